-- Refunds an operator asks for (issue 7; docs/payments.md "Refunds"): money the account holds as credit, paid back.
-- Every refund moves the ledger: refund_request debits the account with the refund (the credit it pays back is no
-- longer the customer's), refund_cancel credits it back; refund_mark_paid records that the money left. Card refunds
-- (the provider's charge.refunded webhook) and the refund of the credit at move-out (billing's final bill) are
-- written by their own paths with their ledger debits. Operators do not insert refunds directly; who asked, paid or
-- cancelled is in the audit trail. A refund of account credit (this file's, and the final bill's) takes money that
-- no invoice has used: internal.payments_post keeps that much of the account's unallocated money out of allocation.

-- Locks a refund of the caller's ESCOs that is still requested, or raises.
create or replace function internal.refund_for_decision(refund_id uuid)
returns public.refunds
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  r public.refunds;
begin
  select x.* into r from public.refunds x where x.id = refund_id and x.esco = any (internal.operator_escos()) for update;
  if not found then
    raise exception 'refund % not found', refund_id using errcode = 'PT404', hint = 'Check the id in public.refunds.';
  end if;
  if r.status <> 'requested' then
    raise exception 'refund % is already %', refund_id, r.status
      using errcode = 'PT409', hint = 'Only a requested refund can be marked paid or cancelled.';
  end if;
  return r;
end
$$;
comment on function internal.refund_for_decision(uuid) is 'Locks a requested refund of the operator''s ESCOs, or raises PT404 / PT409.';
revoke all on function internal.refund_for_decision(uuid) from public;

create or replace function public.refund_request(account_id uuid, amount numeric, reason text,
                                                 payment_id uuid default null)
returns public.refunds
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  acct public.accounts;
  credit numeric;
  r public.refunds;
begin
  select a.* into acct from public.accounts a where a.id = account_id and a.esco = any (internal.operator_escos());
  if not found then
    raise exception 'account % not found', account_id
      using errcode = 'PT404', hint = 'The account must belong to one of your ESCOs.';
  end if;
  if amount is null or amount <= 0 or amount <> round(amount, 2) then
    raise exception 'amount must be a positive amount of pounds and pence, not %', coalesce(amount::text, 'null')
      using errcode = '22023';
  end if;
  if reason is null or btrim(reason) = '' then
    raise exception 'a reason is required to refund' using errcode = '22023';
  end if;
  if payment_id is not null
     and not exists (select 1 from public.payments p where p.id = payment_id and p.account = acct.id) then
    raise exception 'payment % not found on account %', payment_id, acct.id
      using errcode = 'PT404', hint = 'A refund names a payment of the same account, or none.';
  end if;
  -- Serialised with the account's postings (internal.payments_post takes the same lock), so the credit checked
  -- here is not allocated to an invoice meanwhile.
  perform internal.lock_account_postings(array[acct.id]);
  select -coalesce(sum(l.amount), 0) into credit from public.ledger_entries l where l.account = acct.id;
  if amount > credit then
    raise exception 'account % holds £% of credit; a refund of £% is more', acct.account_number, greatest(credit, 0), amount
      using errcode = 'PT409', hint = 'Only credit (payments not owed on any invoice) can be refunded.';
  end if;
  insert into public.refunds (esco, account, payment, amount, reason, status)
  values (acct.esco, acct.id, payment_id, amount, left(btrim(reason), 500), 'requested')
  returning * into r;
  insert into public.ledger_entries (esco, account, kind, amount, refund, description)
  values (acct.esco, acct.id, 'refund', amount, r.id, left('Refund — ' || btrim(reason), 200));
  return r;
end
$$;
comment on function public.refund_request(uuid, numeric, text, uuid) is
  'Operator: asks for a refund of an account''s credit (at most the credit its ledger holds), optionally naming the payment refunded; debits the ledger with it.';
revoke all on function public.refund_request(uuid, numeric, text, uuid) from public;
grant execute on function public.refund_request(uuid, numeric, text, uuid) to operator;

create or replace function public.refund_mark_paid(refund_id uuid)
returns public.refunds
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  r public.refunds := internal.refund_for_decision(refund_id);
begin
  update public.refunds x set status = 'paid', paid_at = now()
   where x.id = r.id
  returning * into r;
  return r;
end
$$;
comment on function public.refund_mark_paid(uuid) is 'Operator: records that a requested refund has been paid (the money left the ESCO''s bank account).';
revoke all on function public.refund_mark_paid(uuid) from public;
grant execute on function public.refund_mark_paid(uuid) to operator;

create or replace function public.refund_cancel(refund_id uuid, reason text)
returns public.refunds
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  r public.refunds;
begin
  if reason is null or btrim(reason) = '' then
    raise exception 'a reason is required to cancel a refund' using errcode = '22023';
  end if;
  r := internal.refund_for_decision(refund_id);
  update public.refunds x
     set status = 'cancelled', cancel_reason = left(btrim(refund_cancel.reason), 500)
   where x.id = r.id
  returning * into r;
  -- the credit is the customer's again
  insert into public.ledger_entries (esco, account, kind, amount, refund, description)
  values (r.esco, r.account, 'adjustment', -r.amount, r.id, left('Refund cancelled — ' || btrim(refund_cancel.reason), 200));
  perform internal.payments_post(array[r.account]);
  return r;
end
$$;
comment on function public.refund_cancel(uuid, text) is
  'Operator: cancels a requested refund, with a reason; the ledger credit returns to the account and pays its open invoices.';
revoke all on function public.refund_cancel(uuid, text) from public;
grant execute on function public.refund_cancel(uuid, text) to operator;
