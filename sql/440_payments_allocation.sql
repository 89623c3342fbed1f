-- Posting payments (issue 7; docs/payments.md): each payment credits its account's ledger once (billing's
-- public.ledger_entries, kind payment — or topup when it bought meter credit), then the account's unallocated
-- money is allocated to its open invoices, oldest due first: an invoice paid in full becomes paid, in part
-- partially_paid; what is left over stays on the account as credit and pays the next invoice.

create or replace function internal.payments_post(account_ids uuid[])
returns integer
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  allocated integer;
begin
  -- Serialise postings per account (a webhook and a reconcile may post for the same account at once): a
  -- transaction advisory lock per bucket of accounts (at most 256 locks, taken in order, so a posting of 50,000
  -- accounts neither fills the lock table nor deadlocks), taken before the statements below so that each of them
  -- sees what a posting that held the lock before committed.
  perform pg_catalog.pg_advisory_xact_lock(hashtext('payments_post'), b.bucket)
     from (select distinct (hashtext(a::text) & 255) as bucket from unnest(account_ids) a) b
    order by b.bucket;

  -- 1. One ledger credit per payment.
  with pending as (
    select p.id, p.esco, p.account, p.received_at, p.amount, p.method, p.reference,
           exists (select 1 from public.topups t where t.payment = p.id) as topup,
           gen_random_uuid() as entry
      from public.payments p
     where p.account in (select unnest(account_ids)) and p.ledger_entry is null and p.status <> 'failed'
       for update of p
  ), entries as (
    insert into public.ledger_entries (id, esco, account, at, kind, amount, description)
    select d.entry, d.esco, d.account, d.received_at, case when d.topup then 'topup' else 'payment' end, -d.amount,
           left(format('%s %s%s', case when d.topup then 'Top-up paid by' else 'Payment by' end,
                       replace(d.method, '_', ' '), coalesce(' — ' || d.reference, '')), 200)
      from pending d
    returning id
  )
  update public.payments p set ledger_entry = d.entry
    from pending d
   where p.id = d.id and d.entry in (select id from entries);

  -- 2. FIFO allocation per account: the unallocated money of its payments (oldest first) laid against the
  --    outstanding amounts of its open invoices (oldest due first); each overlap of the two running totals is an
  --    allocation.
  with money as (
    select p.id, p.esco, p.account,
           p.amount - coalesce((select sum(a.amount) from public.payment_allocations a where a.payment = p.id), 0) as left_over,
           p.received_at
      from public.payments p
     where p.account in (select unnest(account_ids)) and p.status in ('received', 'allocated') and p.ledger_entry is not null
  ), money_ranges as (
    select m.*, sum(m.left_over) over (partition by m.account order by m.received_at, m.id) as upto
      from money m where m.left_over > 0
  ), owed as (
    select i.id, i.esco, i.account, i.due_date, i.issued_at,
           i.total - coalesce((select sum(a.amount) from public.payment_allocations a where a.invoice = i.id), 0) as outstanding
      from public.invoices i
     where i.account in (select unnest(account_ids)) and i.kind = 'invoice' and i.status in ('issued', 'partially_paid')
       for update of i
  ), owed_ranges as (
    select o.*, sum(o.outstanding) over (partition by o.account order by o.due_date nulls last, o.issued_at, o.id) as upto
      from owed o where o.outstanding > 0
  ), pairs as (
    select m.id as payment, o.id as invoice, m.esco,
           least(m.upto, o.upto) - greatest(m.upto - m.left_over, o.upto - o.outstanding) as amount
      from money_ranges m
      join owed_ranges o on o.account = m.account
                        and o.upto - o.outstanding < m.upto and m.upto - m.left_over < o.upto
  ), inserted as (
    insert into public.payment_allocations (esco, payment, invoice, amount)
    select p.esco, p.payment, p.invoice, p.amount from pairs p where p.amount > 0
    on conflict (payment, invoice) do update set amount = public.payment_allocations.amount + excluded.amount
    returning payment, invoice
  ), invoices_done as (
    update public.invoices i
       set status = case when i.total <= coalesce((select sum(a.amount) from public.payment_allocations a where a.invoice = i.id), 0)
                                    + coalesce((select sum(x.amount) from pairs x where x.invoice = i.id), 0)
                         then 'paid' else 'partially_paid' end
     where i.id in (select invoice from inserted)
    returning 1
  )
  select count(*) into allocated from inserted;

  update public.payments p set status = 'allocated'
   where p.account in (select unnest(account_ids)) and p.status = 'received'
     and p.amount <= (select coalesce(sum(a.amount), 0) from public.payment_allocations a where a.payment = p.id);
  return allocated;
end
$$;
comment on function internal.payments_post(uuid[]) is
  'Credits each new payment of the accounts to the ledger once, then allocates their unallocated money to open invoices, oldest due first.';
revoke all on function internal.payments_post(uuid[]) from public;

-- public.payment_allocations ----------------------------------------------------------------------------------

grant select on public.payment_allocations to customer, operator, worker;

create policy select_as_customer on public.payment_allocations for select to customer
  using (payment in (select p.id from public.payments p)); -- the payments RLS lets the customer see
create policy select_as_operator on public.payment_allocations for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_worker on public.payment_allocations for select to worker using (true);

comment on table public.payment_allocations is $$Which invoices a payment paid, and how much of each (oldest due first).
What a payment has left over stays on the account as credit (the ledger credits the whole payment).$$;
comment on column public.payment_allocations.id is 'Allocation id.';
comment on column public.payment_allocations.esco is 'ESCO of the payment and invoice.';
comment on column public.payment_allocations.payment is 'The payment.';
comment on column public.payment_allocations.invoice is 'The invoice it pays (public.invoices).';
comment on column public.payment_allocations.amount is 'Amount of the payment allocated to the invoice, £.';
comment on column public.payment_allocations.allocated_at is 'When it was allocated.';
comment on column public.payments.ledger_entry is 'The ledger entry crediting this payment (public.ledger_entries), once.';
