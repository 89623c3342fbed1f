-- Collections (issue 7; docs/payments.md, "Collections"): the aged-debt view, and reminder records for overdue
-- invoices at the steps of the ESCO's billing settings (default 7, 14 and 28 days past due), paused for accounts
-- with a vulnerable customer and for disputed invoices. Written by internal.collections_remind (the daily
-- collections__remind job); sql/530_notify_collections.sql sends each reminder (payment_overdue).

create view public.aged_debt with (security_invoker = true) as
  with owed as (
    select i.esco, i.account, coalesce(i.due_date, i.issued_at::date) as due_on,
           i.total - coalesce((select sum(a.amount) from public.payment_allocations a where a.invoice = i.id), 0)
             as outstanding
      from public.invoices i
     where i.kind = 'invoice' and i.status in ('issued', 'partially_paid')
  ), aged as (
    select o.*, (now() at time zone 'Europe/London')::date - o.due_on as days_overdue from owed o where o.outstanding > 0
  )
  select a.esco, a.account, acc.account_number,
         sum(a.outstanding) as outstanding,
         coalesce(sum(a.outstanding) filter (where a.days_overdue <= 0), 0) as not_due,
         coalesce(sum(a.outstanding) filter (where a.days_overdue between 1 and 30), 0) as overdue_1_30,
         coalesce(sum(a.outstanding) filter (where a.days_overdue between 31 and 60), 0) as overdue_31_60,
         coalesce(sum(a.outstanding) filter (where a.days_overdue between 61 and 90), 0) as overdue_61_90,
         coalesce(sum(a.outstanding) filter (where a.days_overdue > 90), 0) as overdue_over_90,
         min(a.due_on) as oldest_due_date
    from aged a
    join public.accounts acc on acc.id = a.account
   group by a.esco, a.account, acc.account_number;
grant select on public.aged_debt to operator;
comment on view public.aged_debt is $$Aged debt per account: what open invoices still owe (total less allocated payments), by days past due (Europe/London).
Account credit from over-payments is not netted off here: see the ledger balance.$$;
comment on column public.aged_debt.esco is 'The ESCO.';
comment on column public.aged_debt.account is 'The account.';
comment on column public.aged_debt.account_number is 'Account number.';
comment on column public.aged_debt.outstanding is 'Owed on open invoices, £.';
comment on column public.aged_debt.not_due is 'Of which not yet due, £.';
comment on column public.aged_debt.overdue_1_30 is 'Of which 1–30 days past due, £.';
comment on column public.aged_debt.overdue_31_60 is 'Of which 31–60 days past due, £.';
comment on column public.aged_debt.overdue_61_90 is 'Of which 61–90 days past due, £.';
comment on column public.aged_debt.overdue_over_90 is 'Of which more than 90 days past due, £.';
comment on column public.aged_debt.oldest_due_date is 'Due date of the oldest open invoice.';

-- Reminder steps: a column of the ESCO's billing settings (sql/310 has its other grants) -------------------------

grant update (reminder_steps_days) on public.billing_settings to operator;
comment on column public.billing_settings.reminder_steps_days is
  'Payment reminder steps, in days past the due date (default 7, 14, 28; empty = no reminders).';

-- public.payment_reminders -----------------------------------------------------------------------------------------

grant select on public.payment_reminders to customer, operator, worker;

create policy select_as_customer on public.payment_reminders for select to customer
  using (account = any ((select internal.customer_account_ids())::uuid[]));
create policy select_as_operator on public.payment_reminders for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_worker on public.payment_reminders for select to worker using (true);

comment on table public.payment_reminders is $$Payment reminders: an overdue invoice (past its due date, not fully paid) reached a reminder step.
One per invoice and step, written by the daily collections__remind job; none while the invoice is disputed or a customer on
the account is vulnerable. After a pause (or a missed day) only the latest step reached is written, never the ones skipped.
Each reminder sends payment_overdue to the account's holders and payers.$$;
comment on column public.payment_reminders.id is 'Reminder id.';
comment on column public.payment_reminders.esco is 'ESCO of the invoice.';
comment on column public.payment_reminders.invoice is 'The overdue invoice (public.invoices).';
comment on column public.payment_reminders.account is 'The invoice''s account.';
comment on column public.payment_reminders.step is 'The reminder step reached, in days past the due date (billing_settings.reminder_steps_days).';
comment on column public.payment_reminders.due_date is 'The invoice''s due date.';
comment on column public.payment_reminders.days_overdue is 'Days past the due date when the reminder was written (Europe/London).';
comment on column public.payment_reminders.outstanding_gbp is 'What the invoice still owed then (total less allocated payments), £.';
comment on column public.payment_reminders.created_at is 'When the reminder was written.';

-- The reminders due today (Europe/London), for one ESCO or all. For each open invoice past its due date and not
-- paused: the latest step reached (the largest step ≤ days past due), unless a reminder of that step or a later one
-- exists. So a daily run writes each step on its day; a run after a pause or an outage writes only the latest step
-- reached, not a flood of old ones. Idempotent: unique (invoice, step), and a second run finds nothing new.
create or replace function internal.collections_remind(esco_id uuid default null)
returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  today date := (now() at time zone 'Europe/London')::date;
  created integer;
  paused integer;
begin
  with open_overdue as (
    select i.id, i.esco, i.account, coalesce(i.due_date, i.issued_at::date) as due_on, i.disputed,
           i.total - coalesce((select sum(a.amount) from public.payment_allocations a where a.invoice = i.id), 0)
             as outstanding,
           coalesce(bs.reminder_steps_days, '{7,14,28}') as steps,
           exists (select 1 from public.customer_accounts ca join public.customers c on c.id = ca.customer
                    where ca.account = i.account and c.vulnerable) as vulnerable
      from public.invoices i
      left join public.billing_settings bs on bs.esco = i.esco
     where i.kind = 'invoice' and i.status in ('issued', 'partially_paid')
       and (esco_id is null or i.esco = esco_id)
       and coalesce(i.due_date, i.issued_at::date) < today
  ), reached as (
    select o.*, today - o.due_on as days_overdue,
           (select max(s) from unnest(o.steps) s where s <= today - o.due_on) as step
      from open_overdue o
     where o.outstanding > 0
  ), counted as (
    select count(*) filter (where r.disputed or r.vulnerable) as paused from reached r where r.step is not null
  ), inserted as (
    insert into public.payment_reminders (esco, invoice, account, step, due_date, days_overdue, outstanding_gbp)
    select r.esco, r.id, r.account, r.step, r.due_on, r.days_overdue, r.outstanding
      from reached r
     where r.step is not null and not r.disputed and not r.vulnerable
       and not exists (select 1 from public.payment_reminders pr where pr.invoice = r.id and pr.step >= r.step)
     order by r.esco, r.id
    on conflict (invoice, step) do nothing
    returning 1
  )
  select (select count(*) from inserted), (select c.paused from counted c) into created, paused;
  return jsonb_build_object('created', created, 'paused', paused);
end
$$;
comment on function internal.collections_remind(uuid) is
  'Writes the payment reminders due today (one ESCO or all): the latest step reached by each overdue invoice that is not paused (disputed, or a vulnerable customer on the account).';
revoke all on function internal.collections_remind(uuid) from public;
grant execute on function internal.collections_remind(uuid) to worker;
