-- Up Migration
-- The `public` schema, first part: people, accounts, supplies and tariffs, plus the audit trail.
-- Money: rates numeric(14,5) £ excluding VAT unless the column says otherwise; billed amounts numeric(12,2).

-- People and supply -------------------------------------------------------------------------------

create table public.customers (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null references flows.escos (id),
  auth_subject text unique check (btrim(auth_subject) <> ''),
  name text not null check (btrim(name) <> ''),
  email text check (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  phone text check (phone ~ '^\+[1-9][0-9]{6,14}$'),
  contact_preferences jsonb not null default '{}' check (jsonb_typeof(contact_preferences) = 'object'),
  vulnerable boolean not null default false,
  priority_services boolean not null default false,
  status text not null default 'active' check (status in ('active', 'inactive', 'closed')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (id, esco)
);
create index on public.customers (esco);

create table public.operators (
  id uuid primary key default gen_random_uuid(),
  auth_subject text not null unique check (btrim(auth_subject) <> ''),
  name text not null,
  email text check (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  created_at timestamptz not null default now()
);

create table public.operator_escos (
  operator uuid not null references public.operators (id) on delete cascade,
  esco uuid not null references flows.escos (id),
  granted_at timestamptz not null default now(),
  primary key (operator, esco)
);
create index on public.operator_escos (esco);

create table public.accounts (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null references flows.escos (id),
  account_number text not null check (account_number ~ '^[A-Za-z0-9-]{1,32}$'),
  billing_mode text not null check (billing_mode in ('credit', 'prepay')),
  payment_reference text not null unique check (payment_reference ~ '^[A-Z0-9-]{6,18}$'),
  vat_rate_pct numeric(5, 2) not null default 5.00 check (vat_rate_pct between 0 and 100),
  status text not null default 'open' check (status in ('open', 'closed')),
  opened_on date not null default current_date,
  closed_on date,
  check ((status = 'closed') = (closed_on is not null)),
  check (closed_on is null or closed_on >= opened_on),
  unique (esco, account_number),
  unique (id, esco)
);

create table public.customer_accounts (
  customer uuid not null,
  account uuid not null,
  esco uuid not null,
  role text not null default 'holder' check (role in ('holder', 'occupant', 'payer')),
  primary key (customer, account),
  foreign key (customer, esco) references public.customers (id, esco),
  foreign key (account, esco) references public.accounts (id, esco)
);
create index on public.customer_accounts (customer, esco);
create index on public.customer_accounts (account, esco);
create index on public.customer_accounts (esco);

-- An account supplies a property from start_date (inclusive) to end_date (exclusive; null = open).
create table public.account_supplies (
  id uuid primary key default gen_random_uuid(),
  account uuid not null,
  property uuid not null,
  esco uuid not null,
  start_date date not null,
  end_date date,
  check (end_date is null or end_date > start_date),
  foreign key (account, esco) references public.accounts (id, esco),
  foreign key (property, esco) references flows.properties (id, esco),
  -- no property is supplied to two accounts on the same day
  constraint account_supplies_no_overlap exclude using gist (property with =, daterange(start_date, end_date, '[)') with &&)
);
create index on public.account_supplies (account, esco);
create index on public.account_supplies (property, esco);
create index on public.account_supplies (esco);

-- Tariffs ------------------------------------------------------------------------------------------

-- Regional benchmark (price-cap) rates per quarter, as published: VAT-inclusive.
create table public.benchmark_tariffs (
  id uuid primary key default gen_random_uuid(),
  region text not null check (region ~ '^[A-Z_]{1,3}$'),
  quarter_start date not null
    check (extract(day from quarter_start) = 1 and extract(month from quarter_start) in (1, 4, 7, 10)),
  unit_rate_inc_vat_gbp_kwh numeric(14, 5) not null check (unit_rate_inc_vat_gbp_kwh > 0),
  standing_charge_inc_vat_gbp_day numeric(14, 5) not null check (standing_charge_inc_vat_gbp_day >= 0),
  created_at timestamptz not null default now(),
  unique (region, quarter_start)
);

-- The ESCO tariff: a discount on the benchmark plus prepay settings. Rates excluding VAT, 5 dp.
create table public.microgrid_tariffs (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null references flows.escos (id),
  benchmark_tariff uuid references public.benchmark_tariffs (id),
  effective_from date not null,
  discount_pct numeric(5, 2) not null default 0 check (discount_pct between 0 and 100),
  unit_rate_a_gbp_kwh numeric(14, 5) not null check (unit_rate_a_gbp_kwh >= 0),
  unit_rate_b_gbp_kwh numeric(14, 5) not null check (unit_rate_b_gbp_kwh >= 0),
  export_rate_gbp_kwh numeric(14, 5) not null default 0 check (export_rate_gbp_kwh >= 0),
  standing_charge_gbp_day numeric(14, 5) not null check (standing_charge_gbp_day >= 0),
  emergency_credit_gbp numeric(12, 2) not null default 0 check (emergency_credit_gbp >= 0),
  ecredit_availability_gbp numeric(12, 2) not null default 0 check (ecredit_availability_gbp >= 0),
  debt_recovery_gbp_day numeric(12, 2) not null default 0 check (debt_recovery_gbp_day >= 0),
  created_at timestamptz not null default now(),
  unique (esco, effective_from),
  unique (id, esco)
);
create index on public.microgrid_tariffs (benchmark_tariff);

-- A customer's own tariff where their discount differs from the ESCO's.
create table public.customer_tariffs (
  id uuid primary key default gen_random_uuid(),
  customer uuid not null,
  esco uuid not null,
  microgrid_tariff uuid not null,
  effective_from date not null,
  discount_pct numeric(5, 2) not null check (discount_pct between 0 and 100),
  unit_rate_a_gbp_kwh numeric(14, 5) not null check (unit_rate_a_gbp_kwh >= 0),
  unit_rate_b_gbp_kwh numeric(14, 5) not null check (unit_rate_b_gbp_kwh >= 0),
  standing_charge_gbp_day numeric(14, 5) not null check (standing_charge_gbp_day >= 0),
  created_at timestamptz not null default now(),
  unique (customer, effective_from),
  foreign key (customer, esco) references public.customers (id, esco),
  foreign key (microgrid_tariff, esco) references public.microgrid_tariffs (id, esco)
);
create index on public.customer_tariffs (customer, esco);
create index on public.customer_tariffs (microgrid_tariff, esco);
create index on public.customer_tariffs (esco);

-- Audit trail ---------------------------------------------------------------------------------------

create table internal.audit_log (
  id bigint generated always as identity primary key,
  at timestamptz not null default now(),
  db_role text not null,
  subject text,
  table_name text not null,
  operation text not null check (operation in ('INSERT', 'UPDATE', 'DELETE')),
  row_key jsonb not null,
  old_values jsonb,
  new_values jsonb
);
create index on internal.audit_log (table_name, at);

alter table public.customers enable row level security;
alter table public.operators enable row level security;
alter table public.operator_escos enable row level security;
alter table public.accounts enable row level security;
alter table public.customer_accounts enable row level security;
alter table public.account_supplies enable row level security;
alter table public.benchmark_tariffs enable row level security;
alter table public.microgrid_tariffs enable row level security;
alter table public.customer_tariffs enable row level security;
alter table internal.audit_log enable row level security;
