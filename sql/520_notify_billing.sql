-- Notifications, part 3: billing and payments events (issues 6 and 7). Invoices issued reach the outbox
-- through internal.billing_events (the billing issue's event table, inserted in the issuing transaction);
-- payments through public.payments (both created by migrations 0010 and 0020, applied before sql/).

-- Invoice issued: the customers on the account, by email with the PDF attached (notify__email fetches it
-- through internal.notify_invoice_document once the billing renderer has stored it).
create or replace function internal.tg_billing_events__notify() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  i record;
  c record;
begin
  if new.event <> 'invoice_issued' then
    return null;
  end if;
  select inv.id, inv.kind, inv.number, inv.total, inv.due_date, inv.period_start, inv.period_end
    into i from public.invoices inv where inv.id = new.invoice;
  for c in select ca.customer from public.customer_accounts ca
            where ca.account = new.account and ca.role in ('holder', 'payer') order by ca.customer loop
    perform internal.notify_customer(c.customer, 'invoice_issued',
      jsonb_build_object('invoice_id', i.id, 'kind', i.kind, 'number', i.number, 'total_gbp', i.total::text,
                         'due_date', i.due_date, 'period_start', i.period_start,
                         'period_end', (i.period_end - 1)),
      'invoice_issued:' || i.id);
  end loop;
  update internal.billing_events e set processed_at = now() where e.id = new.id;
  return null;
end
$$;
comment on function internal.tg_billing_events__notify() is
  'Trigger: an invoice_issued billing event queues the invoice email (PDF attached) for the account''s holders and payers.';
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

-- Payment received: the customers on the account.
create or replace function internal.tg_payments__notify() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  c record;
begin
  if new.status not in ('received', 'allocated') then
    return null;
  end if;
  for c in select ca.customer from public.customer_accounts ca
            where ca.account = new.account and ca.role in ('holder', 'payer') order by ca.customer loop
    perform internal.notify_customer(c.customer, 'payment_received',
      jsonb_build_object('payment_id', new.id, 'amount_gbp', new.amount::text, 'received_at', new.received_at,
                         'method', new.method),
      'payment_received:' || new.id);
  end loop;
  return null;
end
$$;
comment on function internal.tg_payments__notify() is 'Trigger: a payment received queues a receipt for the account''s holders and payers.';
revoke all on function internal.tg_payments__notify() from public;

drop trigger if exists _500_notify on internal.billing_events;
create trigger _500_notify after insert on internal.billing_events
  for each row execute function internal.tg_billing_events__notify();

drop trigger if exists _500_notify on public.payments;
create trigger _500_notify after insert on public.payments
  for each row execute function internal.tg_payments__notify();
