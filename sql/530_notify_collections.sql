-- Notifications, part 4: collections and failed top-ups (issues 7 and 8). A payment reminder
-- (public.payment_reminders, written by the daily collections__remind job) tells the account's holders and payers
-- that the invoice is overdue; a top-up that failed alerts the ESCO's operators (its customers hear of it through
-- sql/510's topup_failed). Both in the transaction of the change.

-- Payment overdue: the reminder's holders and payers, once per reminder (dedupe key payment_overdue:<reminder>).
create or replace function internal.tg_payment_reminders__notify() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  c record;
  i record;
begin
  select inv.number, inv.due_date, inv.total into i from public.invoices inv where inv.id = new.invoice;
  for c in select ca.customer from public.customer_accounts ca
            where ca.account = new.account and ca.role in ('holder', 'payer') order by ca.customer loop
    perform internal.notify_customer(c.customer, 'payment_overdue',
      jsonb_build_object('number', i.number, 'due_date', coalesce(i.due_date, new.due_date),
                         'outstanding_gbp', new.outstanding_gbp::text, 'days_overdue', new.days_overdue),
      'payment_overdue:' || new.id);
  end loop;
  return null;
end
$$;
comment on function internal.tg_payment_reminders__notify() is
  'Trigger: a payment reminder queues payment_overdue for the account''s holders and payers.';
revoke all on function internal.tg_payment_reminders__notify() from public;

drop trigger if exists _500_notify on public.payment_reminders;
create trigger _500_notify after insert on public.payment_reminders
  for each row execute function internal.tg_payment_reminders__notify();

-- Top-up failed (after the job's retries): the ESCO's operator alert subscriptions that take topup_failed_operator.
-- The payment that bought the credit stays on the account as credit (its ledger entry was written with it).
create or replace function internal.tg_topups__notify_operators() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  serial text;
  account_number text;
begin
  if new.status <> 'failed' or (tg_op = 'UPDATE' and old.status = 'failed') then
    return null;
  end if;
  select m.serial into serial from flows.meter_registry m where m.id = new.meter;
  select a.account_number into account_number from public.accounts a where a.id = new.account;
  perform internal.notify_operators(new.esco, 'topup_failed_operator',
    jsonb_build_object('topup_id', new.id, 'amount_gbp', new.amount::text, 'meter_serial', serial,
                       'account_number', account_number, 'error', coalesce(new.error, 'unknown'),
                       'paid', new.payment is not null, 'at', coalesce(new.failed_at, now())),
    'topup_failed_operator:' || new.id);
  return null;
end
$$;
comment on function internal.tg_topups__notify_operators() is
  'Trigger: a top-up that failed alerts the ESCO''s operators (topup_failed_operator).';
revoke all on function internal.tg_topups__notify_operators() from public;

drop trigger if exists _530_notify_operators on public.topups;
create trigger _530_notify_operators after insert or update of status on public.topups
  for each row execute function internal.tg_topups__notify_operators();
