-- Up Migration
-- Notifications (issue 8): an outbox of email and SMS messages, customers' preferences, operators' alert
-- subscriptions per ESCO, and the small bookkeeping the senders and planners need. Grants, policies,
-- comments, the enqueue function and the event triggers live in sql/5xx_notify_*.sql.

create table public.notifications (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null references flows.escos (id),
  -- customer or subscription says who the recipient is (never both); address is the snapshot used to send.
  customer uuid,
  subscription uuid,
  channel text not null check (channel in ('email', 'sms')),
  address text not null check (btrim(address) <> ''),
  template text not null check (template ~ '^[a-z][a-z0-9_]*$'),
  payload jsonb not null default '{}' check (jsonb_typeof(payload) = 'object'),
  dedupe_key text not null unique check (length(dedupe_key) between 1 and 300),
  -- Lower runs first (vulnerable customers 0, other customers 10, operators 5).
  priority smallint not null default 10,
  status text not null default 'queued' check (status in ('queued', 'sending', 'sent', 'failed', 'suppressed')),
  attempts integer not null default 0 check (attempts >= 0),
  next_attempt_at timestamptz not null default now(),
  provider_message_id text,
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  sent_at timestamptz,
  check ((status = 'sent') = (sent_at is not null)),
  constraint notifications_one_recipient check (num_nonnulls(customer, subscription) <= 1),
  foreign key (customer, esco) references public.customers (id, esco)
);
create index on public.notifications (customer, esco);
create index on public.notifications (subscription);
create index on public.notifications (esco, created_at desc);
create index on public.notifications (status, next_attempt_at) where status in ('queued', 'sending');

create table public.notification_preferences (
  customer uuid primary key,
  esco uuid not null,
  -- The kinds (templates) the customer wants on each channel; removing one is an opt-out.
  email_kinds text[] not null default array['invoice_issued', 'payment_received', 'payment_overdue', 'low_balance',
    'off_supply', 'topup_completed', 'topup_failed', 'tariff_change'],
  sms_kinds text[] not null default array['payment_overdue', 'low_balance', 'off_supply', 'topup_failed'],
  -- Europe/London wall-clock times; an SMS due inside [start, end) waits until end. Both or neither.
  quiet_hours_start time,
  quiet_hours_end time,
  low_balance_threshold_gbp numeric(12, 2) not null default 5.00 check (low_balance_threshold_gbp >= 0),
  updated_at timestamptz not null default now(),
  check ((quiet_hours_start is null) = (quiet_hours_end is null)),
  check (quiet_hours_start is distinct from quiet_hours_end or quiet_hours_start is null),
  foreign key (customer, esco) references public.customers (id, esco) on delete cascade
);
create index on public.notification_preferences (customer, esco);
create index on public.notification_preferences (esco);

create table public.operator_alert_subscriptions (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null references flows.escos (id),
  operator uuid references public.operators (id) on delete cascade,
  kinds text[] not null default array['off_supply', 'meter_offline', 'meter_recovered'],
  channel text not null check (channel in ('email', 'sms')),
  address text not null,
  active boolean not null default true,
  created_at timestamptz not null default now(),
  check (
    (channel = 'email' and address ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$')
    or (channel = 'sms' and address ~ '^\+[1-9][0-9]{6,14}$')
  ),
  unique (esco, channel, address)
);
create index on public.operator_alert_subscriptions (esco);
create index on public.operator_alert_subscriptions (operator);

-- A message to a subscription that was later removed keeps its row (and address snapshot).
alter table public.notifications
  add foreign key (subscription) references public.operator_alert_subscriptions (id) on delete set null;

-- Per-provider rate limit: the next moment a message may go out through that provider (all workers).
create table internal.notify_provider_slots (
  provider text primary key check (provider in ('smtp', 'twilio')),
  next_slot_at timestamptz not null default '-infinity'
);
insert into internal.notify_provider_slots (provider) values ('smtp'), ('twilio');

-- Meters an operator alert "offline" went out for and that have not yet been reported recovered.
create table internal.notify_meter_offline (
  meter uuid primary key references flows.meter_registry (id) on delete cascade,
  esco uuid not null,
  since timestamptz not null,
  noticed_at timestamptz not null default now()
);
create index on internal.notify_meter_offline (esco);

-- Every customer has a preferences row (new customers get theirs by trigger, sql/500_notify_outbox.sql).
insert into public.notification_preferences (customer, esco) select c.id, c.esco from public.customers c;

alter table public.notifications enable row level security;
alter table public.notification_preferences enable row level security;
alter table public.operator_alert_subscriptions enable row level security;
alter table internal.notify_provider_slots enable row level security;
alter table internal.notify_meter_offline enable row level security;
