-- Collections (issue 7), first part: the aged-debt view. Reminder steps are not built yet (docs/payments.md).

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
