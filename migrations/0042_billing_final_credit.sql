-- Up Migration
-- Billing (issues 6 and 7): credit at move-out and the run's daily aggregate of interval data.
--
-- 1. Final bills carry the account's credit (docs/billing.md, "Final bill at move-out"): the ledger balance
--    brought forward (an `account_balance` line, outside the total, because it is already in the ledger) and,
--    for a prepay meter, the credit left on it at move-out that the ledger does not hold yet (a `meter_credit`
--    line, in the total). amount_due = total + balance_brought_forward = the ledger balance once issued.
-- 2. A billing run aggregates its registers' half-hours per register and local day once
--    (internal.billing_register_days), and its batches join that small result instead of the half-hours.

alter table public.invoice_lines drop constraint invoice_lines_line_type_check;
alter table public.invoice_lines add constraint invoice_lines_line_type_check
  check (line_type in ('standing_charge', 'unit_charge', 'export_credit', 'community_credit', 'adjustment',
                       'meter_credit', 'account_balance'));

alter table public.invoices add column meter_credit numeric(12, 2) not null default 0
  check (meter_credit <= 0 or kind = 'credit_note');
alter table public.invoices add column balance_brought_forward numeric(12, 2) not null default 0;
alter table public.invoices add column amount_due numeric(12, 2)
  generated always as (total + balance_brought_forward) stored;

do $$
declare
  c text;
begin
  select conname into strict c from pg_constraint
   where conrelid = 'public.invoices'::regclass and contype = 'c'
     and pg_get_constraintdef(oid) like '%(total = %community_credit)%';
  execute format('alter table public.invoices drop constraint %I', c);
end
$$;
alter table public.invoices add constraint invoices_total_check
  check (total = supply_subtotal + vat + export_credit + community_credit + meter_credit);

-- When the current pass of a run took its daily aggregate (null: not yet).
alter table public.billing_runs add column aggregated_at timestamptz;

-- Per run: Σ import, Σ export, half-hours present (and with export) per register and Europe/London day of
-- the period, taken once when a pass starts; removed when the pass ends.
create table internal.billing_register_days (
  run uuid not null references public.billing_runs (id) on delete cascade,
  register_id uuid not null,
  day date not null,
  import_kwh numeric not null,
  export_kwh numeric,
  present integer not null,
  export_present integer not null,
  primary key (run, register_id, day)
);
alter table internal.billing_register_days enable row level security;
