-- Notifications, part 4: collections and failed top-ups (issues 7 and 8). A payment reminder
-- (public.payment_reminders, written by the daily collections__remind job) tells the account's holders and payers
-- that the invoice is overdue; a top-up that failed alerts the ESCO's operators (its customers hear of it through
-- sql/510's topup_failed). Both in the transaction of the change.

-- Payment overdue: the reminder's holders and payers, once per reminder (dedupe key payment_overdue:<reminder>).
-- Statement-level: a collections run's reminders are queued in one call.
create or replace function internal.tg_payment_reminders__notify() returns trigger
language plpgsql volatile security definer
set search_path = ''
set jit = off  -- as internal.tg_audit: a bulk statement over a transition table without statistics
as $$
begin
  perform internal.notify_account_holders('payment_overdue', array_agg(r.account order by r.id),
            array_agg(jsonb_build_object('number', inv.number, 'due_date', coalesce(inv.due_date, r.due_date),
                                         'outstanding_gbp', r.outstanding_gbp::text, 'days_overdue', r.days_overdue)
                      order by r.id),
            array_agg('payment_overdue:' || r.id order by r.id))
     from new_rows r
     join public.invoices inv on inv.id = r.invoice;
  return null;
end
$$;
comment on function internal.tg_payment_reminders__notify() is
  'Trigger (after insert, for each statement, transition table new_rows): each payment reminder queues payment_overdue for its account''s holders and payers.';
revoke all on function internal.tg_payment_reminders__notify() from public;

drop trigger if exists _500_notify on public.payment_reminders;
create trigger _500_notify after insert on public.payment_reminders referencing new table as new_rows
  for each statement execute function internal.tg_payment_reminders__notify();

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
