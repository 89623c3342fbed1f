-- Posting payments (issue 7; docs/payments.md): each payment credits its account's ledger once (billing's
-- public.ledger_entries, kind payment — or topup when it bought meter credit), then the account's unallocated
-- money is allocated to its open invoices, oldest due first: an invoice paid in full becomes paid, in part
-- partially_paid; what is left over stays on the account as credit and pays the next invoice.

-- What a payment's ledger credit says ("Payment by bank transfer — <reference>"). Not SECURITY DEFINER and without
-- `set search_path`, so that it is inlined.
create or replace function internal.payment_ledger_description(method text, reference text, topup boolean)
returns text
language sql immutable
as $$
  select pg_catalog.left(pg_catalog.format('%s %s%s', case when topup then 'Top-up paid by' else 'Payment by' end,
                                           pg_catalog.replace(method, '_', ' '), ' — ' || reference), 200)
$$;
comment on function internal.payment_ledger_description(text, text, boolean) is
  'The description of a payment''s ledger credit: how it was paid and its reference.';
revoke all on function internal.payment_ledger_description(text, text, boolean) from public;

-- Serialises postings per account (a webhook, a reconcile and a refund may touch the same account at once): a
-- transaction advisory lock per bucket of accounts (at most 256 locks, taken in order, so a posting of 50,000
-- accounts neither fills the lock table nor deadlocks). Taken before reading the accounts' money, so that each
-- posting sees what one that held the lock before committed.
create or replace function internal.lock_account_postings(account_ids uuid[]) returns void
language plpgsql volatile
set search_path = ''
as $$
begin
  -- plpgsql, not sql: a sql function would stop at the first row, taking one lock
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('payments_post'), b.bucket)
     from (select distinct (pg_catalog.hashtext(a::text) & 255) as bucket from unnest(account_ids) a) b
    order by b.bucket;
end
$$;
comment on function internal.lock_account_postings(uuid[]) is
  'Takes the transaction advisory locks that serialise postings for these accounts (256 buckets, in order).';
revoke all on function internal.lock_account_postings(uuid[]) from public;

-- Two kinds of refund: of the account's credit (an operator's refund_request, source null, or the final bill's,
-- source billing:<invoice>), which takes unallocated money of the account; and of a payment itself (a card refund,
-- stripe:…, or a payment the bank returned, bank:<debit line>), which takes that payment's money back. Not SECURITY
-- DEFINER and without `set search_path`, so that it is inlined.
create or replace function internal.refund_of_credit(source text) returns boolean
language sql immutable
as $$
  select source is null or source like 'billing:%'
$$;
comment on function internal.refund_of_credit(text) is
  'Whether a refund (by its source) pays back account credit (else it takes back its own payment''s money).';
revoke all on function internal.refund_of_credit(text) from public;

create or replace function internal.payments_post(account_ids uuid[])
returns integer
language plpgsql volatile security definer
set search_path = ''
set jit = off  -- as internal.tg_audit: bulk statements over arrays and fresh rows without statistics
as $$
declare
  allocated integer;
begin
  perform internal.lock_account_postings(account_ids);

  -- 1. One ledger credit per payment that has none yet (bank payments are written with theirs).
  with pending as (
    select p.id, p.esco, p.account, p.received_at, p.amount, p.method, p.reference,
           exists (select 1 from public.topups t where t.payment = p.id) as topup,
           gen_random_uuid() as entry
      from public.payments p
     where p.account = any (account_ids) and p.ledger_entry is null and p.status <> 'failed'
       for update of p
  ), entries as (
    insert into public.ledger_entries (id, esco, account, at, kind, amount, description)
    select d.entry, d.esco, d.account, d.received_at, case when d.topup then 'topup' else 'payment' end, -d.amount,
           internal.payment_ledger_description(d.method, d.reference, d.topup)
      from pending d
    returning id
  )
  update public.payments p set ledger_entry = d.entry
    from pending d
   where p.id = d.id and d.entry in (select id from entries);

  -- 2. FIFO allocation per account: the unallocated money of its payments (oldest first) laid against the
  --    outstanding amounts of its open invoices (oldest due first); each overlap of the two running totals is an
  --    allocation. An invoice paid in full becomes paid, in part partially_paid; a payment whose money is all
  --    allocated becomes allocated. (`= any (account_ids)`, not `in (select unnest(…))`: the planner then knows how
  --    many payments there are and joins them to the invoices by hash, never in a nested loop.)
  with money as materialized (
    -- less what was refunded of the payment itself (internal.payments_release_refunded)
    select p.id, p.esco, p.account, p.received_at,
           p.amount - coalesce((select sum(a.amount) from public.payment_allocations a where a.payment = p.id), 0)
             - coalesce((select sum(r.amount) from public.refunds r
                          where r.payment = p.id and not internal.refund_of_credit(r.source)), 0)
             as left_over
      from public.payments p
     where p.account = any (account_ids) and p.status = 'received' and p.ledger_entry is not null
  ), refunded as (
    -- refunds of account credit (asked by an operator, or the final bill's) took unallocated money: that much of
    -- the account's money may not pay invoices. (A refund of a payment itself comes off that payment, above.)
    select r.account, sum(r.amount) as amount
      from public.refunds r
     where r.account = any (account_ids) and r.status <> 'cancelled' and internal.refund_of_credit(r.source)
     group by r.account
  ), owed as materialized (
    -- only the accounts that have money to allocate
    select i.id, i.esco, i.account, i.due_date, i.issued_at,
           i.total - coalesce((select sum(a.amount) from public.payment_allocations a where a.invoice = i.id), 0) as outstanding
      from public.invoices i
     where i.account in (select m.account from money m where m.left_over > 0) and i.kind = 'invoice'
       and i.status in ('issued', 'partially_paid')
       for update of i
  ), ledger_credit as (
    -- the account's credit as its ledger has it: what its open invoices still owe, less its balance. Money that
    -- a debit no allocation records has used (a prepay account's statements, before it moved to credit billing)
    -- is not credit any more, so no more than this is allocated.
    select b.account, coalesce(o.outstanding, 0) - b.balance as credit
      from (select e.account, sum(e.amount) as balance
              from public.ledger_entries e
             where e.account in (select m.account from money m where m.left_over > 0)
             group by e.account) b
      left join (select o.account, sum(o.outstanding) as outstanding from owed o group by o.account) o
        on o.account = b.account
  ), money_ranges as (
    -- upto: the running total of the account's money, oldest first; usable: how far it may be allocated
    select m.*, sum(m.left_over) over (partition by m.account order by m.received_at, m.id) as upto,
           least(sum(m.left_over) over (partition by m.account) - coalesce(rf.amount, 0), coalesce(lc.credit, 0))
             as usable
      from money m
      left join refunded rf on rf.account = m.account
      left join ledger_credit lc on lc.account = m.account
     where m.left_over > 0
  ), owed_ranges as (
    select o.*, sum(o.outstanding) over (partition by o.account order by o.due_date nulls last, o.issued_at, o.id) as upto
      from owed o where o.outstanding > 0
  ), pairs as materialized (
    -- each pair carries what its payment had left and its invoice owed, so that the updates below need not join
    -- back to `money` or `owed` (whose row estimates are useless: a nested loop over them would be quadratic)
    select m.id as payment, o.id as invoice, m.esco, m.left_over, o.outstanding,
           least(m.upto, m.usable, o.upto) - greatest(m.upto - m.left_over, o.upto - o.outstanding) as amount
      from money_ranges m
      join owed_ranges o on o.account = m.account
                        and o.upto - o.outstanding < least(m.upto, m.usable) and m.upto - m.left_over < o.upto
  ), inserted as (
    insert into public.payment_allocations (esco, payment, invoice, amount)
    select p.esco, p.payment, p.invoice, p.amount from pairs p where p.amount > 0
    on conflict (payment, invoice) do update set amount = public.payment_allocations.amount + excluded.amount
    returning 1
  ), invoices_paid as (
    update public.invoices i
       set status = x.status
      from (select p.invoice, case when sum(p.amount) >= min(p.outstanding) then 'paid' else 'partially_paid' end as status
              from pairs p where p.amount > 0 group by p.invoice) x
     where i.id = x.invoice and i.status is distinct from x.status
  ), payments_allocated as (
    update public.payments p
       set status = 'allocated'
      from (select pr.payment from pairs pr where pr.amount > 0 group by pr.payment
            having sum(pr.amount) >= min(pr.left_over)) x
     where p.id = x.payment
  )
  select count(*) into allocated from inserted;
  return allocated;
end
$$;
comment on function internal.payments_post(uuid[]) is
  'Credits each new payment of the accounts to the ledger once, then allocates their unallocated money to open invoices, oldest due first.';
revoke all on function internal.payments_post(uuid[]) from public;

-- Money refunded of a payment itself (a card refund, a payment the bank returned: internal.refund_of_credit is false)
-- pays nothing any more. It comes off what the payment left unallocated first, then off its allocations, the invoice due last
-- first; those invoices are owed again (partially_paid, or issued when nothing pays them now). The caller holds
-- the account's posting lock and posts the account afterwards (its other credit may pay them).
create or replace function internal.payments_release_refunded(payment_ids uuid[]) returns void
language plpgsql volatile
set search_path = ''
as $$
declare
  released uuid[];
begin
  with excess as (
    select p.id,
           coalesce((select sum(a.amount) from public.payment_allocations a where a.payment = p.id), 0)
             + coalesce((select sum(r.amount) from public.refunds r
                          where r.payment = p.id and not internal.refund_of_credit(r.source)), 0)
             - p.amount as amount
      from public.payments p
     where p.id = any (payment_ids)
  ), ranked as (
    -- upto: the running total of the payment's allocations, the invoice due last first
    select a.id, a.invoice, a.amount, e.amount as excess,
           sum(a.amount) over (partition by a.payment order by i.due_date desc nulls first, i.issued_at desc, a.id desc)
             as upto
      from excess e
      join public.payment_allocations a on a.payment = e.id
      join public.invoices i on i.id = a.invoice
     where e.amount > 0
  ), cut as (
    -- what each allocation keeps once the excess is taken from the top of the running total
    select r.id, r.invoice, greatest(0, r.upto - r.excess) as keeps
      from ranked r
     where r.upto - r.amount < r.excess
  ), removed as (
    delete from public.payment_allocations a using cut c where a.id = c.id and c.keeps <= 0 returning a.invoice
  ), reduced as (
    update public.payment_allocations a set amount = c.keeps from cut c where a.id = c.id and c.keeps > 0
    returning a.invoice
  )
  select coalesce(array_agg(distinct x.invoice), '{}') into released
    from (select invoice from removed union all select invoice from reduced) x;

  update public.invoices i
     set status = case when coalesce(s.paid, 0) = 0 then 'issued' else 'partially_paid' end
    from (select x.id, (select sum(a.amount) from public.payment_allocations a where a.invoice = x.id) as paid
            from unnest(released) x(id)) s
   where i.id = s.id and i.status in ('paid', 'partially_paid');
end
$$;
comment on function internal.payments_release_refunded(uuid[]) is
  'Takes money refunded of its payments (card refunds, returned payments) off them: unallocated money first, then allocations (invoice due last first), reopening those invoices.';
revoke all on function internal.payments_release_refunded(uuid[]) from public;

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
