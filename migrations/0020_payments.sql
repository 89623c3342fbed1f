-- Up Migration
-- Payments, bank reconciliation and top-ups (issue 7): the ESCOs' bank accounts, imported bank statements and
-- their lines, payments (bank, card, direct debit, cash), refunds, provider webhook events, and the payment
-- link of public.topups (created by 0006 for the meter work; this issue takes it over).
-- Money: numeric, exact; billed amounts numeric(12,2); statement amounts numeric(14,2) (banks report pence).

create extension if not exists pgcrypto with schema extensions;

-- An ESCO's bank account: a statement is accepted only for an account its ESCO owns.
create table public.esco_bank_accounts (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null references flows.escos (id),
  name text not null check (btrim(name) <> ''),
  iban text unique check (iban ~ '^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$'),
  sort_code text check (sort_code ~ '^[0-9]{6}$'),
  account_number text check (account_number ~ '^[0-9]{8}$'),
  currency text not null default 'GBP' check (currency ~ '^[A-Z]{3}$'),
  created_at timestamptz not null default now(),
  check (iban is not null or (sort_code is not null and account_number is not null)),
  check ((sort_code is null) = (account_number is null)),
  unique (sort_code, account_number),
  unique (id, esco)
);
create index on public.esco_bank_accounts (esco);
alter table public.esco_bank_accounts enable row level security;

create table public.bank_statements (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null,
  bank_account uuid not null,
  format text not null check (format in ('camt.053', 'csv', 'ofx')),
  format_version text,
  file_sha256 text not null check (file_sha256 ~ '^[0-9a-f]{64}$'),
  -- one file may hold several statements (camt.053): (file, position) is unique, the file hash is the
  -- idempotency key of the import.
  file_position integer not null default 1 check (file_position >= 1),
  file_name text,
  statement_ref text,
  period_from date,
  period_to date,
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  opening_balance numeric(14, 2),
  closing_balance numeric(14, 2),
  entry_count integer not null default 0 check (entry_count >= 0),
  imported_at timestamptz not null default now(),
  imported_by text,
  check (period_to is null or period_from is null or period_to >= period_from),
  unique (file_sha256, file_position),
  unique (id, esco),
  foreign key (bank_account, esco) references public.esco_bank_accounts (id, esco)
);
create index on public.bank_statements (bank_account, esco);
create index on public.bank_statements (esco);
alter table public.bank_statements enable row level security;

create table public.payments (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null,
  account uuid not null,
  received_at timestamptz not null default now(),
  amount numeric(12, 2) not null check (amount > 0),
  currency text not null default 'GBP' check (currency ~ '^[A-Z]{3}$'),
  method text not null check (method in ('bank_transfer', 'card', 'direct_debit', 'cash')),
  reference text,
  -- what the money came from: 'bank:<transaction id>', 'stripe:<payment intent>', 'manual:<uuid>'. Unique, so a
  -- statement line or a provider event becomes at most one payment.
  source text not null unique check (source ~ '^[a-z]+:.+$'),
  status text not null default 'received' check (status in ('received', 'allocated', 'refunded', 'failed')),
  match_rule text,
  created_at timestamptz not null default now(),
  unique (id, esco),
  foreign key (account, esco) references public.accounts (id, esco)
);
create index on public.payments (account, esco);
create index on public.payments (esco);
alter table public.payments enable row level security;

create table public.bank_transactions (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null,
  statement uuid not null,
  bank_account uuid not null,
  -- unique per bank account: 'ref:<AcctSvcrRef>' where the bank gives a unique one, else 'fp:<sha256 of the
  -- statement, the entry position and its contents>'.
  identity text not null check (btrim(identity) <> ''),
  position integer not null check (position >= 1),
  entry_reference text,
  booking_date date,
  value_date date,
  booked boolean not null default true,
  amount numeric(14, 2) not null check (amount <> 0),
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  reversal boolean not null default false,
  bank_transaction_code text,
  counterparty_name text,
  counterparty_account text,
  remittance_information text,
  end_to_end_id text,
  status text not null default 'unmatched' check (status in ('unmatched', 'matched', 'ignored', 'debit', 'pending')),
  match_rule text,
  matched_account uuid,
  payment uuid,
  ignore_reason text,
  decided_by text,
  decided_at timestamptz,
  created_at timestamptz not null default now(),
  check ((status = 'matched') = (payment is not null)),
  check ((status = 'ignored') = (ignore_reason is not null)),
  check (status <> 'matched' or amount > 0),
  unique (bank_account, identity),
  foreign key (statement, esco) references public.bank_statements (id, esco) on delete cascade,
  foreign key (bank_account, esco) references public.esco_bank_accounts (id, esco),
  foreign key (payment, esco) references public.payments (id, esco),
  foreign key (matched_account, esco) references public.accounts (id, esco)
);
create index on public.bank_transactions (statement, esco);
create index on public.bank_transactions (bank_account, esco);
create index on public.bank_transactions (payment, esco);
create index on public.bank_transactions (matched_account, esco);
create index on public.bank_transactions (esco);
create index bank_transactions_unmatched on public.bank_transactions (esco, booking_date) where status = 'unmatched';
alter table public.bank_transactions enable row level security;

create table public.refunds (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null,
  account uuid not null,
  payment uuid,
  amount numeric(12, 2) not null check (amount > 0),
  reason text not null check (btrim(reason) <> ''),
  source text unique check (source ~ '^[a-z]+:.+$'),
  status text not null default 'requested' check (status in ('requested', 'paid', 'cancelled')),
  requested_at timestamptz not null default now(),
  paid_at timestamptz,
  unique (id, esco),
  foreign key (account, esco) references public.accounts (id, esco),
  foreign key (payment, esco) references public.payments (id, esco)
);
create index on public.refunds (account, esco);
create index on public.refunds (payment, esco);
create index on public.refunds (esco);
alter table public.refunds enable row level security;

-- Provider webhooks: each event once (idempotent on the provider's event id), after its signature is verified.
create table internal.payment_webhook_events (
  provider text not null,
  event_id text not null,
  event_type text not null,
  esco uuid references flows.escos (id),
  received_at timestamptz not null default now(),
  deliveries integer not null default 1 check (deliveries >= 1),
  outcome text not null,
  payload jsonb not null,
  primary key (provider, event_id)
);
create index on internal.payment_webhook_events (esco);
alter table internal.payment_webhook_events enable row level security;

-- Secrets (webhook signing secrets). Readable by no web role; used by SECURITY DEFINER functions only.
create table internal.payment_secrets (
  name text primary key check (name ~ '^[a-z0-9_.-]+$'),
  value text not null check (length(value) >= 16),
  created_at timestamptz not null default now()
);
alter table internal.payment_secrets enable row level security;

-- Top-ups: the payment that bought the credit.
alter table public.topups add column payment uuid;
alter table public.topups add foreign key (payment, esco) references public.payments (id, esco);
create unique index topups_payment on public.topups (payment) where payment is not null;
create index on public.topups (payment, esco);

-- Allocations of payments to invoices (billing's public.invoices, migration 0010): oldest due first. What is not
-- allocated stays on the account as credit: the payment's ledger entry credits its full amount.
create table public.payment_allocations (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null,
  payment uuid not null,
  invoice uuid not null,
  amount numeric(12, 2) not null check (amount > 0),
  allocated_at timestamptz not null default now(),
  unique (payment, invoice),
  foreign key (payment, esco) references public.payments (id, esco),
  foreign key (invoice, esco) references public.invoices (id, esco)
);
create index on public.payment_allocations (payment, esco);
create index on public.payment_allocations (invoice, esco);
create index on public.payment_allocations (esco);
alter table public.payment_allocations enable row level security;

-- The ledger entry (billing's public.ledger_entries) that credits the payment: written once per payment.
alter table public.payments add column ledger_entry uuid unique references public.ledger_entries (id);
