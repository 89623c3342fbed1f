-- Up Migration
-- Collections (issue 7): reminder records for overdue invoices, at steps (days past the due date) configured per
-- ESCO in its billing settings; and the operator alert for a failed top-up among the default alert kinds.
-- Grants, policies, comments and the function that writes reminders: sql/450_payments_collections.sql; the
-- payment_overdue notification: sql/530_notify_collections.sql. Rules: docs/payments.md, "Collections".

-- Reminder steps, in days past the due date (a set: order and repeats do not matter; empty = no reminders).
alter table public.billing_settings
  add column reminder_steps_days integer[] not null default '{7,14,28}'
    check (cardinality(reminder_steps_days) <= 12 and array_position(reminder_steps_days, null) is null
           and 1 <= all (reminder_steps_days) and 366 >= all (reminder_steps_days));

-- One reminder per invoice and step (the step reached: days past due ≥ step), written by the daily
-- collections__remind job; never for a disputed invoice or an account with a vulnerable customer.
create table public.payment_reminders (
  id uuid primary key default gen_random_uuid(),
  esco uuid not null,
  invoice uuid not null,
  account uuid not null,
  step integer not null check (step between 1 and 366),
  due_date date not null,
  days_overdue integer not null check (days_overdue >= step),
  outstanding_gbp numeric(12, 2) not null check (outstanding_gbp > 0),
  created_at timestamptz not null default now(),
  unique (invoice, step),
  foreign key (invoice, esco) references public.invoices (id, esco),
  foreign key (account, esco) references public.accounts (id, esco)
);
create index on public.payment_reminders (invoice, esco);
create index on public.payment_reminders (account, esco);
create index on public.payment_reminders (esco, created_at desc);
alter table public.payment_reminders enable row level security;

-- Operators hear of top-ups that failed (the money stays on the account as credit): new subscriptions take the
-- kind by default, and so do existing ones still on the old default set.
alter table public.operator_alert_subscriptions
  alter column kinds set default array['off_supply', 'meter_offline', 'meter_recovered', 'topup_failed_operator'];
update public.operator_alert_subscriptions
   set kinds = array['off_supply', 'meter_offline', 'meter_recovered', 'topup_failed_operator']
 where kinds = array['off_supply', 'meter_offline', 'meter_recovered'];
