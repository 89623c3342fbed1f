-- Up Migration
-- Every refund's ledger entries name their refund (issue 7), so that what left the ESCO as refunds can be told
-- apart from what was paid in and billed: the final bill's meter credit is worked out without them
-- (internal.final_bill_lines). Two kinds of entry were written without the link; the functions now write it
-- (sql/320_billing_operations.sql, sql/430_payments_webhook.sql), and this links the entries already written.

-- The refund due of a final bill's credit: debited as an `adjustment` naming the bill; it is the refund's request,
-- so it becomes kind `refund` (as an operator's refund request is), which also leaves the `adjustment` of the
-- refund's cancellation free to name it.
update public.ledger_entries e
   set refund = r.id, kind = 'refund'
  from public.refunds r
 where r.source = 'billing:' || e.invoice and r.esco = e.esco
   and e.kind = 'adjustment' and e.refund is null and e.invoice is not null;

-- A card refund: its debit was written in the same transaction as the refund (same account, amount and time);
-- linked where exactly one refund fits.
update public.ledger_entries e
   set refund = (select r.id from public.refunds r
                  where r.account = e.account and r.esco = e.esco and r.amount = e.amount
                    and r.requested_at = e.at and r.source like 'stripe:%')
 where e.kind = 'adjustment' and e.refund is null and e.invoice is null and e.description = 'Card refund'
   and (select count(*) from public.refunds r
         where r.account = e.account and r.esco = e.esco and r.amount = e.amount
           and r.requested_at = e.at and r.source like 'stripe:%') = 1;
