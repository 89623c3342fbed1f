-- Matching bank lines to accounts (issue 7; docs/payments.md): the cascade the bank__reconcile job runs, the
-- posting every match goes through (rules and operators alike), the review queue of lines no rule matched, and the
-- operators' match / ignore actions. A line becomes at most one payment: every path locks the line (FOR UPDATE,
-- SKIP LOCKED for the job), the posting re-checks its status, and public.payments.source is unique on the line id,
-- so two racing reconciles can never match a line twice.

drop function if exists internal.normalise_reference(text);
drop function if exists internal.bank_reconcile(uuid, uuid);

-- Posting matches: each line (locked by the caller, still an unmatched credit) becomes a payment of its account
-- with its ledger credit, and is marked matched by its rule; then internal.payments_post allocates the accounts'
-- money to their open invoices. Set-based: one statement for all the lines, whatever their number. Returns how
-- many lines were matched (a line no longer unmatched, or whose payment exists, is left alone).
create or replace function internal.bank_lines_post(line_ids uuid[], account_ids uuid[], rules text[],
                                                    decided_by text)
returns integer
language plpgsql volatile security definer
set search_path = ''
set jit = off  -- as internal.tg_audit: bulk statements over arrays and fresh rows without statistics
as $$
declare
  matched integer;
  accounts uuid[];
begin
  with chosen as materialized (
    select t.id, t.esco, t.amount, t.currency,
           coalesce(t.booking_date, t.value_date)::timestamp at time zone 'Europe/London' as received_at,
           left(t.remittance_information, 140) as reference, m.account, m.rule,
           gen_random_uuid() as payment, gen_random_uuid() as entry
      from unnest(line_ids, account_ids, rules) as m(line, account, rule)
      join public.bank_transactions t on t.id = m.line
     where t.status = 'unmatched' and t.amount > 0
  ), paid as (
    -- the payment and its ledger credit together (payments_post then finds the credit written)
    insert into public.payments (id, esco, account, received_at, amount, currency, method, reference, source, status,
                                 match_rule, ledger_entry)
    select c.payment, c.esco, c.account, c.received_at, c.amount, c.currency, 'bank_transfer', c.reference,
           'bank:' || c.id, 'received', c.rule, c.entry
      from chosen c
    on conflict (source) do nothing
    returning id
  ), credited as (
    insert into public.ledger_entries (id, esco, account, at, kind, amount, description)
    select c.entry, c.esco, c.account, c.received_at, 'payment', -c.amount,
           internal.payment_ledger_description('bank_transfer', c.reference, false)
      from chosen c
     where c.payment in (select p.id from paid p)
  ), done as (
    update public.bank_transactions t
       set status = 'matched', match_rule = c.rule, payment = c.payment, matched_account = c.account,
           decided_by = bank_lines_post.decided_by, decided_at = now()
      from chosen c
     where t.id = c.id and c.payment in (select p.id from paid p)
    returning t.matched_account
  )
  select count(*), coalesce(array_agg(distinct d.matched_account), '{}') into matched, accounts from done d;
  -- the new payments pay open invoices (sql/440_payments_allocation.sql)
  perform internal.payments_post(accounts);
  return matched;
end
$$;
comment on function internal.bank_lines_post(uuid[], uuid[], text[], text) is
  'Posts matched bank credits (locked by the caller): one payment and ledger credit per line, the line marked matched by its rule, then allocation.';
revoke all on function internal.bank_lines_post(uuid[], uuid[], text[], text) from public;

-- Returned payments: a booked debit that the bank flags as a reversal (camt RvslInd) of a credit that became a
-- payment takes that payment's money back. The credit is the one matched line of the same bank account and amount,
-- booked no later, with the same end-to-end id (or, when the reversal has none, the same remittance information
-- and payer name); a reversal that fits no credit, or several, stays a plain debit. The payment is refunded in
-- full (a paid public.refunds row, source bank:<debit line>, and its ledger debit), its allocations are released
-- (its invoices are owed again) and the account is posted; the debit line records the account and the rule
-- `reversal`. Returns how many payments were reversed; a debit already handled is left alone.
create or replace function internal.bank_reversals_post(esco_id uuid, statement_id uuid)
returns integer
language plpgsql volatile
set search_path = ''
set jit = off  -- as internal.tg_audit: bulk statements over fresh rows without statistics
as $$
declare
  reversed integer;
  debit_ids uuid[];
  payment_ids uuid[];
  account_ids uuid[];
begin
  -- the pairs (debit line, payment), carried in arrays: most runs have none
  with debits as (
    select t.id, t.bank_account, -t.amount as amount, coalesce(t.booking_date, t.value_date) as on_date,
           t.end_to_end_id, t.remittance_information, t.counterparty_name
      from public.bank_transactions t
     where t.status = 'debit' and t.reversal and t.booked and t.match_rule is null
       and (esco_id is null or t.esco = esco_id) and (statement_id is null or t.statement = statement_id)
       for update of t skip locked
  ), candidates as (
    select d.id as debit, p.id as payment, p.account
      from debits d
      join public.bank_transactions c
        on c.bank_account = d.bank_account and c.status = 'matched' and c.amount = d.amount
       and coalesce(c.booking_date, c.value_date) <= d.on_date
       and case when d.end_to_end_id is not null then c.end_to_end_id = d.end_to_end_id
                else d.remittance_information is not null and c.remittance_information = d.remittance_information
                     and c.counterparty_name is not distinct from d.counterparty_name end
      join public.payments p on p.id = c.payment and p.status in ('received', 'allocated')
  )
  -- one credit for the debit, and no other debit for that credit
  select array_agg(x.debit), array_agg(x.payment), array_agg(distinct x.account)
    into debit_ids, payment_ids, account_ids
    from candidates x
   where x.debit in (select y.debit from candidates y group by y.debit having count(*) = 1)
     and x.payment in (select y.payment from candidates y group by y.payment having count(*) = 1);
  if debit_ids is null then
    return 0;
  end if;
  perform internal.lock_account_postings(account_ids);

  with pairs as (
    select x.debit, p.id as payment, p.esco, p.account, p.amount, t.remittance_information
      from unnest(debit_ids, payment_ids) as x(debit, payment)
      join public.payments p on p.id = x.payment
      join public.bank_transactions t on t.id = x.debit
  ), refunded as (
    insert into public.refunds (esco, account, payment, amount, reason, source, status, paid_at)
    select r.esco, r.account, r.payment, r.amount, 'payment returned by the bank', 'bank:' || r.debit, 'paid', now()
      from pairs r
    on conflict (source) do nothing
    returning id, esco, account, amount, payment, source
  ), debited as (
    insert into public.ledger_entries (esco, account, kind, amount, refund, description)
    select f.esco, f.account, 'adjustment', f.amount, f.id,
           left('Payment returned by the bank' || coalesce(' — ' || r.remittance_information, ''), 200)
      from refunded f join pairs r on 'bank:' || r.debit = f.source
  ), payments_refunded as (
    update public.payments p set status = 'refunded'
      from refunded f
     where p.id = f.payment
  )
  update public.bank_transactions t
     set match_rule = 'reversal', matched_account = r.account, decided_by = 'bank__reconcile', decided_at = now()
    from pairs r
   where t.id = r.debit;
  get diagnostics reversed = row_count;

  perform internal.payments_release_refunded(payment_ids);
  perform internal.payments_post(account_ids);
  return reversed;
end
$$;
comment on function internal.bank_reversals_post(uuid, uuid) is
  'Reverses the payments of matched credits that the bank returned (reversal debits): refund, ledger debit, allocations released, account posted.';
revoke all on function internal.bank_reversals_post(uuid, uuid) from public;

-- The cascade, over the unmatched credits of an ESCO (or all) and a statement (or all), locked FOR UPDATE SKIP
-- LOCKED so that concurrent runs share the work:
--  1. reference — the account's payment reference, or the number of one of its open invoices, in the remittance
--     information or end-to-end id, after normalising case, spaces and punctuation. Candidates are runs of 1–4
--     consecutive words of the text joined without separators, so "ABC 123-456" finds the reference ABC123456 and
--     so does "ref:abc123456"; a line whose text names two different accounts matches neither.
--  2. amount_name — the amount is what an open invoice still owes and a holder or payer of its account has a name
--     like the counterparty's (internal.name_similarity ≥ the name threshold).
--  3. unique_amount — the only open invoice in the ESCO that owes exactly that amount, the money arriving between
--     its issue date and the window's days after it is due.
-- The threshold and window are each ESCO's billing settings (match_name_threshold, match_window_days; their
-- defaults 0.60 and 45 where the ESCO has no settings yet); name_threshold / window_days, when given, override
-- them for this run. Rules 2 and 3 see what rule 1 paid. One account per line, else the line waits for review.
create or replace function internal.bank_reconcile(esco_id uuid default null, statement_id uuid default null,
                                                   name_threshold numeric default null,
                                                   window_days integer default null)
returns jsonb
language plpgsql volatile security definer
set search_path = ''
set jit = off  -- as internal.tg_audit: bulk statements over arrays and fresh rows without statistics
set work_mem = '64MB'  -- the candidates of 50,000 lines sort and hash in memory
as $$
declare
  line_ids uuid[];
  account_ids uuid[];
  rules text[];
  matched integer;
  waiting integer;
  reversed integer;
begin
  -- Rule 1. Every step carries what the next needs, so that no step joins back to `locked` (its row estimate is
  -- useless right after an import, and a nested loop over it would be quadratic).
  with locked as (
    select t.id, t.esco, t.remittance_information, t.end_to_end_id
      from public.bank_transactions t
     where t.status = 'unmatched' and t.amount > 0
       and (esco_id is null or t.esco = esco_id)
       and (statement_id is null or t.statement = statement_id)
       for update skip locked
  ), candidates as materialized (
    -- compared byte-wise (collation "C"): the candidates are upper-case letters and digits
    select l.id, l.esco, array_to_string(w.w[i:i + k], '') collate "C" as candidate
      from locked l
     cross join lateral regexp_split_to_array(
             btrim(regexp_replace(upper(coalesce(l.remittance_information, '') || ' ' || coalesce(l.end_to_end_id, '')),
                                  '[^A-Z0-9]+', ' ', 'g')), ' ') as w(w)
     cross join lateral generate_series(1, cardinality(w.w)) i
     cross join lateral generate_series(0, least(3, cardinality(w.w) - i)) k
  ), refs as materialized (
    select a.id as account, a.esco, regexp_replace(upper(a.payment_reference), '[^A-Z0-9]', '', 'g') collate "C" as ref
      from public.accounts a
     where esco_id is null or a.esco = esco_id
    union all
    -- the number of an open invoice names its account too
    select i.account, i.esco, regexp_replace(upper(i.number), '[^A-Z0-9]', '', 'g') collate "C"
      from public.invoices i
     where i.number is not null and i.kind = 'invoice' and i.status in ('issued', 'partially_paid')
       and (esco_id is null or i.esco = esco_id)
  ), hits as (
    select c.id, min(r.account::text)::uuid as account
      from candidates c
      join refs r on r.ref = c.candidate and r.esco = c.esco
     group by c.id
    having min(r.account::text) = max(r.account::text)
  )
  select array_agg(h.id), array_agg(h.account), array_agg('reference'::text) into line_ids, account_ids, rules from hits h;
  matched := internal.bank_lines_post(line_ids, account_ids, rules, 'bank__reconcile');

  -- Rules 2 and 3, for the credits rule 1 left.
  with lines as materialized (
    select t.id, t.esco, t.amount, coalesce(t.booking_date, t.value_date) as received_on, t.counterparty_name,
           coalesce(bank_reconcile.name_threshold, s.match_name_threshold, 0.60) as name_threshold,
           coalesce(bank_reconcile.window_days, s.match_window_days, 45) as window_days
      from public.bank_transactions t
      left join public.billing_settings s on s.esco = t.esco
     where t.status = 'unmatched' and t.amount > 0
       and (esco_id is null or t.esco = esco_id)
       and (statement_id is null or t.statement = statement_id)
       for update of t skip locked
  ), open_invoices as materialized (
    select i.id, i.esco, i.account, i.issued_at::date as issued_on,
           coalesce(i.due_date, i.issued_at::date + 30) as due_on,
           i.total - coalesce((select sum(a.amount) from public.payment_allocations a where a.invoice = i.id), 0)
             as outstanding
      from public.invoices i
     where i.kind = 'invoice' and i.status in ('issued', 'partially_paid')
       and (esco_id is null or i.esco = esco_id)
       and i.esco in (select l.esco from lines l)
  ), by_name as (
    select l.id, min(o.account::text)::uuid as account
      from lines l
      join open_invoices o on o.esco = l.esco and o.outstanding = l.amount
     where exists (select 1
                     from public.customer_accounts ca
                     join public.customers c on c.id = ca.customer
                    where ca.account = o.account and ca.role in ('holder', 'payer')
                      and internal.name_similarity(c.name, l.counterparty_name) >= l.name_threshold)
     group by l.id
    having count(distinct o.account) = 1
  ), by_amount as (
    select l.id, min(o.id::text)::uuid as invoice, min(o.account::text)::uuid as account
      from lines l
      join open_invoices o on o.esco = l.esco and o.outstanding = l.amount
                          and l.received_on between o.issued_on and o.due_on + l.window_days
     where l.id not in (select b.id from by_name b)
       -- not an invoice that rule 2 paid in this pass (NOT IN: a hashed subplan, linear whatever the estimates;
       -- NOT EXISTS was planned as a nested loop over a materialised by_name, quadratic in the lines)
       and (o.account, o.outstanding) not in (select b.account, bl.amount from by_name b join lines bl on bl.id = b.id)
     group by l.id
    having count(*) = 1
  ), chosen as (
    select b.id, b.account, 'amount_name' as rule from by_name b
    union all
    -- an invoice that two lines of the same amount point at pays neither: both wait for review
    select b.id, b.account, 'unique_amount' from by_amount b
     where b.invoice not in (select x.invoice from by_amount x group by x.invoice having count(*) > 1)
  )
  select array_agg(c.id), array_agg(c.account), array_agg(c.rule) into line_ids, account_ids, rules from chosen c;
  matched := matched + internal.bank_lines_post(line_ids, account_ids, rules, 'bank__reconcile');

  -- Returned payments (after the credits: a statement may hold a credit and its reversal).
  reversed := internal.bank_reversals_post(esco_id, statement_id);

  select count(*) into waiting from public.bank_transactions t
   where t.status = 'unmatched' and t.amount > 0
     and (esco_id is null or t.esco = esco_id) and (statement_id is null or t.statement = statement_id);
  return jsonb_build_object('matched', matched, 'waiting', waiting, 'reversed', reversed);
end
$$;
comment on function internal.bank_reconcile(uuid, uuid, numeric, integer) is
  'Matches unmatched bank credits to accounts by the rules of docs/payments.md, writing one payment per line; the name threshold and date window are the ESCO''s settings unless given. Safe to run concurrently.';
revoke all on function internal.bank_reconcile(uuid, uuid, numeric, integer) from public;
grant execute on function internal.bank_reconcile(uuid, uuid, numeric, integer) to worker;

-- The matching settings operators keep in their billing settings (columns: migration 0080).
grant update (match_name_threshold, match_window_days) on public.billing_settings to operator;
comment on column public.billing_settings.match_name_threshold is
  'Bank matching, rule 2: how alike (0–1) the payer''s name must be to a holder''s or payer''s of the account (default 0.60).';
comment on column public.billing_settings.match_window_days is
  'Bank matching, rule 3: days after an invoice''s due date a payment of its exact amount is still matched to it (default 45).';

-- How alike two names are, 0–1: the share of the shorter name's words (letters and digits, upper case, without
-- titles and initials) found in the other. "MRS J SMITH" ~ "Jane Smith" = 1; "A N OTHER" ~ "Jane Smith" = 0.
create or replace function internal.name_similarity(a text, b text) returns numeric
language sql immutable
set search_path = ''
as $$
  with wa as (
    select distinct w from regexp_split_to_table(upper(coalesce(a, '')), '[^A-Z0-9]+') w
     where length(w) > 1 and w not in ('MR', 'MRS', 'MS', 'MISS', 'MX', 'DR', 'LTD', 'AND')
  ), wb as (
    select distinct w from regexp_split_to_table(upper(coalesce(b, '')), '[^A-Z0-9]+') w
     where length(w) > 1 and w not in ('MR', 'MRS', 'MS', 'MISS', 'MX', 'DR', 'LTD', 'AND')
  )
  select case when least((select count(*) from wa), (select count(*) from wb)) = 0 then 0
              else round((select count(*) from wa join wb using (w))::numeric
                         / least((select count(*) from wa), (select count(*) from wb)), 3) end
$$;
comment on function internal.name_similarity(text, text) is
  'Similarity of two person names (0–1): the share of the shorter name''s words, without titles and initials, found in the other.';
revoke all on function internal.name_similarity(text, text) from public;

-- The review queue ---------------------------------------------------------------------------------------------

create view public.bank_review_queue with (security_invoker = true) as
  select t.id, t.esco, t.bank_account, t.statement, t.booking_date, t.value_date, t.amount, t.currency,
         t.counterparty_name, t.counterparty_account, t.remittance_information, t.end_to_end_id, t.entry_reference,
         t.created_at
    from public.bank_transactions t
   where t.status = 'unmatched' and t.amount > 0;
grant select on public.bank_review_queue to operator;
comment on view public.bank_review_queue is $$Bank credits no matching rule placed: the operators' unmatched review queue.
Resolve each with bank_transaction_match (to an account) or bank_transaction_ignore (with a reason).$$;
comment on column public.bank_review_queue.id is 'The bank line (public.bank_transactions.id).';
comment on column public.bank_review_queue.esco is 'The ESCO that owns the bank account.';
comment on column public.bank_review_queue.bank_account is 'The ESCO bank account.';
comment on column public.bank_review_queue.statement is 'The statement it came from.';
comment on column public.bank_review_queue.booking_date is 'Booking date.';
comment on column public.bank_review_queue.value_date is 'Value date.';
comment on column public.bank_review_queue.amount is 'Amount received.';
comment on column public.bank_review_queue.currency is 'Currency.';
comment on column public.bank_review_queue.counterparty_name is 'Payer name.';
comment on column public.bank_review_queue.counterparty_account is 'Payer account.';
comment on column public.bank_review_queue.remittance_information is 'The payer''s reference text.';
comment on column public.bank_review_queue.end_to_end_id is 'End-to-end id.';
comment on column public.bank_review_queue.entry_reference is 'The bank''s entry reference.';
comment on column public.bank_review_queue.created_at is 'When it was imported.';

-- Operator actions ----------------------------------------------------------------------------------------------

-- Locks a credit line of the caller's ESCOs that is still waiting, or raises.
create or replace function internal.bank_line_for_decision(line_id uuid)
returns public.bank_transactions
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  line public.bank_transactions;
begin
  select t.* into line from public.bank_transactions t
   where t.id = line_id and t.esco = any (internal.operator_escos())
     for update;
  if not found then
    raise exception 'bank line % not found', line_id
      using errcode = 'PT404', hint = 'Check the id in public.bank_review_queue.';
  end if;
  if line.status <> 'unmatched' then
    raise exception 'bank line % is already %', line_id, line.status
      using errcode = 'PT409', hint = 'Only unmatched credits can be matched or ignored.';
  end if;
  return line;
end
$$;
comment on function internal.bank_line_for_decision(uuid) is 'Locks an unmatched bank credit of the operator''s ESCOs, or raises PT404 / PT409.';
revoke all on function internal.bank_line_for_decision(uuid) from public;

create or replace function public.bank_transaction_match(transaction_id uuid, account_id uuid)
returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  line public.bank_transactions := internal.bank_line_for_decision(transaction_id);
begin
  if not exists (select 1 from public.accounts a where a.id = account_id and a.esco = line.esco) then
    raise exception 'account % not found', account_id
      using errcode = 'PT404', hint = 'The account must belong to the ESCO of the bank line.';
  end if;
  perform internal.bank_lines_post(array[line.id], array[account_id], array['manual'], internal.jwt_sub());
  return jsonb_build_object('transaction', line.id, 'account', account_id,
                            'payment', (select t.payment from public.bank_transactions t where t.id = line.id));
end
$$;
comment on function public.bank_transaction_match(uuid, uuid) is
  'Operator: matches an unmatched bank credit to an account of the same ESCO, writing its payment (rule manual).';
revoke all on function public.bank_transaction_match(uuid, uuid) from public;
grant execute on function public.bank_transaction_match(uuid, uuid) to operator;

create or replace function public.bank_transaction_ignore(transaction_id uuid, reason text)
returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  line public.bank_transactions;
begin
  if reason is null or btrim(reason) = '' then
    raise exception 'a reason is required to ignore a bank line' using errcode = '22023';
  end if;
  line := internal.bank_line_for_decision(transaction_id);
  update public.bank_transactions
     set status = 'ignored', ignore_reason = left(btrim(reason), 500), decided_by = internal.jwt_sub(), decided_at = now()
   where id = line.id;
  return jsonb_build_object('transaction', line.id, 'status', 'ignored');
end
$$;
comment on function public.bank_transaction_ignore(uuid, text) is
  'Operator: takes an unmatched bank credit out of the review queue, with a reason (e.g. not ours, returned).';
revoke all on function public.bank_transaction_ignore(uuid, text) from public;
grant execute on function public.bank_transaction_ignore(uuid, text) to operator;
