-- Notifications, part 3: billing and payments events (issues 6 and 7). Invoices issued reach the outbox
-- through internal.billing_events (the billing issue's event table, inserted in the issuing transaction);
-- payments through public.payments (both created by migrations 0010 and 0020, applied before sql/).

-- Invoice issued: the customers on the account, by email with the PDF attached (notify__email fetches it
-- through internal.notify_invoice_document once the billing renderer has stored it).
create or replace function internal.tg_billing_events__notify() returns trigger
language plpgsql volatile security definer
set search_path = ''
set jit = off  -- as internal.tg_audit: a bulk statement over a transition table without statistics
as $$
begin
  -- Statement-level: a billing run's invoices are queued in one call.
  perform internal.notify_account_holders('invoice_issued', array_agg(e.account order by e.id),
            array_agg(jsonb_build_object('invoice_id', i.id, 'kind', i.kind, 'number', i.number,
                                         'total_gbp', i.total::text, 'due_date', i.due_date,
                                         'period_start', i.period_start, 'period_end', (i.period_end - 1))
                      order by e.id),
            array_agg('invoice_issued:' || i.id order by e.id))
     from new_rows e
     join public.invoices i on i.id = e.invoice
    where e.event = 'invoice_issued';
  update internal.billing_events b set processed_at = now()
   where b.id in (select e.id from new_rows e where e.event = 'invoice_issued');
  return null;
end
$$;
comment on function internal.tg_billing_events__notify() is
  'Trigger (after insert, for each statement, transition table new_rows): invoice_issued billing events queue the invoice email (PDF attached) for the accounts'' holders and payers.';
revoke all on function internal.tg_billing_events__notify() from public;

-- The stored PDF of an invoice, for the email job (null until the billing renderer has stored it).
create or replace function internal.notify_invoice_document(invoice_id uuid)
returns table (number text, pdf bytea)
language plpgsql stable security definer
set search_path = ''
as $$
begin
  return query select i.number, d.pdf from public.invoices i join internal.invoice_documents d on d.invoice = i.id
                where i.id = invoice_id;
end
$$;
comment on function internal.notify_invoice_document(uuid) is 'The invoice number and stored PDF, for notify__email (no row until rendered).';
revoke all on function internal.notify_invoice_document(uuid) from public;
grant execute on function internal.notify_invoice_document(uuid) to worker;

-- Payment received: the customers on the account. Statement-level, so a reconcile that posts 50,000 payments
-- queues their receipts in one call.
create or replace function internal.tg_payments__notify() returns trigger
language plpgsql volatile security definer
set search_path = ''
set jit = off  -- as internal.tg_audit: bulk statements over arrays and fresh rows without statistics
as $$
begin
  perform internal.notify_account_holders('payment_received', array_agg(p.account order by p.id),
            array_agg(jsonb_build_object('payment_id', p.id, 'amount_gbp', p.amount::text, 'received_at', p.received_at,
                                         'method', p.method) order by p.id),
            array_agg('payment_received:' || p.id order by p.id))
     from new_rows p
    where p.status in ('received', 'allocated');
  return null;
end
$$;
comment on function internal.tg_payments__notify() is
  'Trigger (after insert, for each statement, transition table new_rows): the payments received queue a receipt for their accounts'' holders and payers.';
revoke all on function internal.tg_payments__notify() from public;

drop trigger if exists _500_notify on internal.billing_events;
create trigger _500_notify after insert on internal.billing_events referencing new table as new_rows
  for each statement execute function internal.tg_billing_events__notify();

drop trigger if exists _500_notify on public.payments;
create trigger _500_notify after insert on public.payments referencing new table as new_rows
  for each statement execute function internal.tg_payments__notify();
