-- Up Migration
-- Meter sync and top-up delivery (issue 5): a minimal public.topups that the payments issue takes over
-- (it adds the payment link and everything around it), and the `hardware` syncer in the catalogue.

create table public.topups (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null,
  account uuid not null,
  meter uuid not null,
  amount numeric(12, 2) not null check (amount > 0 and amount < 10000),
  token text check (token ~ '^[0-9]{20}$'),
  token_sequence integer check (token_sequence between 1 and 65535),
  status text not null default 'requested'
    check (status in ('requested', 'token_issued', 'sent', 'verified', 'failed')),
  attempts integer not null default 0 check (attempts >= 0),
  meter_balance_before numeric(14, 5),
  meter_count_before integer,
  meter_balance_after numeric(14, 5),
  meter_count_after integer,
  error text,
  requested_at timestamptz not null default now(),
  token_issued_at timestamptz,
  sent_at timestamptz,
  verified_at timestamptz,
  failed_at timestamptz,
  updated_at timestamptz not null default now(),
  check ((token is null) = (token_sequence is null)),
  check (status in ('requested', 'failed') or token is not null),
  unique (meter, token_sequence),
  foreign key (account, esco) references public.accounts (id, esco),
  foreign key (meter, esco) references flows.meter_registry (id, esco)
);
create index on public.topups (account, esco);
create index on public.topups (meter, esco);
create index on public.topups (esco);
alter table public.topups enable row level security;

insert into flows.meter_metrics (name, enabled, run_frequency) values ('hardware', true, 'daily')
on conflict (name) do nothing;
