-- Up Migration
-- Billing (issue 6): ESCO billing settings, community solar allocations, billing runs, invoices and
-- their typed lines, the account ledger, and (internal) invoice number series, documents, estimates
-- and the issue-event outbox. Money: billed amounts numeric(12,2), rates numeric(14,5), kWh numeric(14,3).
-- Rules: docs/billing.md. Functions, grants, policies and comments: sql/300_billing_*.sql.

create table public.billing_settings (
  esco uuid primary key references flows.escos (id),
  legal_name text not null check (btrim(legal_name) <> ''),
  address text not null default '',
  vat_registration text check (vat_registration ~ '^[A-Z]{2}[0-9A-Z ]{5,15}$'),
  bank_details text not null default '',
  payment_instructions text not null default '',
  invoice_due_days integer not null default 14 check (invoice_due_days between 0 and 120),
  contact_email text,
  contact_phone text,
  community_credit_pence_per_kwp_year numeric(12, 5) not null default 0
    check (community_credit_pence_per_kwp_year >= 0),
  prepay_drift_tolerance_gbp numeric(12, 2) not null default 1.00 check (prepay_drift_tolerance_gbp >= 0),
  updated_at timestamptz not null default now()
);

-- A community solar array's declared capacity, shared across properties by allocation ratio.
create table public.community_solar_allocations (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null,
  array_name text not null check (btrim(array_name) <> ''),
  capacity_kwp numeric(10, 3) not null check (capacity_kwp > 0),
  property uuid not null,
  allocation_ratio numeric(6, 5) not null check (allocation_ratio > 0 and allocation_ratio <= 1),
  unique (esco, array_name, property),
  foreign key (property, esco) references flows.properties (id, esco)
);
create index on public.community_solar_allocations (property, esco);
create index on public.community_solar_allocations (esco);

create table public.billing_runs (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null references flows.escos (id),
  period_start date not null check (extract(day from period_start) = 1),
  status text not null default 'queued' check (status in ('queued', 'running', 'drafted', 'issued', 'failed')),
  accounts_total integer not null default 0,
  accounts_done integer not null default 0,
  invoices_drafted integer not null default 0,
  invoices_issued integer not null default 0,
  errors jsonb not null default '[]' check (jsonb_typeof(errors) = 'array'),
  bill_date date not null default (now() at time zone 'Europe/London')::date,
  started_by text,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  unique (esco, period_start),
  unique (id, esco)
);

create table public.invoices (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null,
  account uuid not null,
  run uuid,
  kind text not null check (kind in ('invoice', 'statement', 'credit_note')),
  status text not null default 'draft' check (status in ('draft', 'issued', 'paid', 'partially_paid', 'void')),
  number text unique,
  period_start date not null,
  period_end date not null,
  check (period_end > period_start),
  is_final boolean not null default false,
  estimated boolean not null default false,
  vat_rate_pct numeric(5, 2) not null,
  supply_subtotal numeric(12, 2) not null default 0,
  vat numeric(12, 2) not null default 0,
  export_credit numeric(12, 2) not null default 0 check (export_credit <= 0 or kind = 'credit_note'),
  community_credit numeric(12, 2) not null default 0,
  total numeric(12, 2) not null default 0,
  meter_charged_gbp numeric(12, 2),
  drift_gbp numeric(12, 2),
  drift_flagged boolean not null default false,
  replaces uuid references public.invoices (id),
  credits uuid references public.invoices (id),
  void_reason text,
  disputed boolean not null default false,
  dispute_reason text,
  disputed_at timestamptz,
  dispute_resolution text,
  dispute_resolved_at timestamptz,
  issued_at timestamptz,
  due_date date,
  created_at timestamptz not null default now(),
  check ((status = 'draft') = (number is null)),
  check ((status = 'draft') = (issued_at is null)),
  check (total = supply_subtotal + vat + export_credit + community_credit),
  check (disputed = (disputed_at is not null)),
  unique (id, esco),
  foreign key (account, esco) references public.accounts (id, esco),
  foreign key (run, esco) references public.billing_runs (id, esco) on delete set null (run)
);
create index on public.invoices (account, esco);
create index on public.invoices (run, esco);
create index on public.invoices (esco);
create index on public.invoices (replaces);
create index on public.invoices (credits);
-- One draft per account, period and kind: a rerun or a crashed run cannot leave two.
create unique index invoices_one_draft on public.invoices (account, period_start, kind) where status = 'draft';

create table public.invoice_lines (
  id uuid primary key default gen_random_uuid(),
  invoice uuid not null,
  esco uuid not null,
  position integer not null,
  line_type text not null
    check (line_type in ('standing_charge', 'unit_charge', 'export_credit', 'community_credit', 'adjustment')),
  element text check (element in ('A', 'B', 'SINGLE')),
  description text not null,
  quantity numeric(14, 3) not null,
  unit text not null check (unit in ('day', 'kWh', 'item')),
  unit_price numeric(14, 5) not null,
  amount numeric(12, 2) not null,
  from_date date not null,
  to_date date not null,
  check (to_date > from_date),
  estimated boolean not null default false,
  tariff uuid,
  customer_tariff uuid,
  inputs jsonb not null default '{}' check (jsonb_typeof(inputs) = 'object'),
  unique (invoice, position),
  foreign key (invoice, esco) references public.invoices (id, esco) on delete cascade
);
create index on public.invoice_lines (invoice, esco);
create index on public.invoice_lines (esco);

create table public.ledger_entries (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null,
  account uuid not null,
  at timestamptz not null default now(),
  kind text not null check (kind in ('invoice', 'statement', 'credit_note', 'payment', 'topup', 'adjustment')),
  -- positive = the customer owes more (debit), negative = credit
  amount numeric(12, 2) not null,
  invoice uuid,
  description text not null,
  unique (invoice, kind),
  foreign key (account, esco) references public.accounts (id, esco),
  foreign key (invoice, esco) references public.invoices (id, esco)
);
create index on public.ledger_entries (account, esco, at);
create index on public.ledger_entries (invoice, esco);
create index on public.ledger_entries (esco);

create table internal.invoice_number_series (
  esco uuid not null references flows.escos (id),
  kind text not null check (kind in ('invoice', 'statement', 'credit_note')),
  last_number integer not null default 0,
  primary key (esco, kind)
);

create table internal.invoice_documents (
  invoice uuid primary key references public.invoices (id),
  html text not null,
  pdf bytea not null,
  pages integer not null,
  rendered_at timestamptz not null default now()
);

-- Estimated register-days charged on an issued bill, until actual data trues them up.
create table internal.billing_estimates (
  invoice uuid not null references public.invoices (id),
  register_id uuid not null,
  day date not null,
  element text not null,
  estimated_kwh numeric(14, 3) not null,
  unit_price numeric(14, 5) not null,
  trued_up_by uuid references public.invoices (id),
  primary key (invoice, register_id, day)
);
create index on internal.billing_estimates (register_id, day);
create index on internal.billing_estimates (trued_up_by);

-- Outbox of billing events for the notifications issue (one row per issued document).
create table internal.billing_events (
  id bigint generated always as identity primary key,
  at timestamptz not null default now(),
  event text not null check (event in ('invoice_issued', 'invoice_voided')),
  invoice uuid not null references public.invoices (id),
  account uuid not null,
  esco uuid not null,
  processed_at timestamptz,
  unique (event, invoice)
);
create index on internal.billing_events (invoice);
create index on internal.billing_events (processed_at) where processed_at is null;

alter table public.billing_settings enable row level security;
alter table public.community_solar_allocations enable row level security;
alter table public.billing_runs enable row level security;
alter table public.invoices enable row level security;
alter table public.invoice_lines enable row level security;
alter table public.ledger_entries enable row level security;
alter table internal.invoice_number_series enable row level security;
alter table internal.invoice_documents enable row level security;
alter table internal.billing_estimates enable row level security;
alter table internal.billing_events enable row level security;

-- The PDF media type for PostgREST's media-type handler: an RPC returning this domain answers
-- `Accept: application/pdf` with the raw bytes.
create domain public."application/pdf" as bytea;
