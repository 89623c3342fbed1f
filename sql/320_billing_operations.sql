-- Billing operations (docs/billing.md): drafting (set-based, shared by runs and rebills), issuing with
-- gap-free numbers, the ledger, void / rebill / dispute, the dry run, runs and the invoice document.
-- The definer functions check the caller themselves: a customer reaches their own accounts' issued
-- documents, an operator their ESCOs'; anything else is "not found" (PT404).

comment on domain public."application/pdf" is 'A PDF document (bytea); PostgREST serves it as application/pdf.';

-- Caller checks --------------------------------------------------------------------------------------------

create or replace function internal.billing_can_read(account_id uuid, esco_id uuid) returns boolean
language sql stable
set search_path = ''
as $$
  select case current_setting('role', true)
           when 'customer' then account_id = any (internal.customer_account_ids())
           when 'operator' then esco_id = any (internal.operator_escos())
           when 'worker' then true
           when 'service' then false
           when 'anon' then false
           else true -- owner, administrators, the CLI
         end
$$;
comment on function internal.billing_can_read(uuid, uuid) is
  'Whether the caller may see the account''s billing: its customer, an operator of its ESCO, the worker, or an administrator.';
revoke all on function internal.billing_can_read(uuid, uuid) from public;

create or replace function internal.billing_can_manage(esco_id uuid) returns boolean
language sql stable
set search_path = ''
as $$
  select case current_setting('role', true)
           when 'operator' then esco_id = any (internal.operator_escos())
           when 'worker' then true
           when 'customer' then false
           when 'service' then false
           when 'anon' then false
           else true
         end
$$;
comment on function internal.billing_can_manage(uuid) is 'Whether the caller may run billing for the ESCO: its operators, the worker, administrators.';
revoke all on function internal.billing_can_manage(uuid) from public;

-- Drafting --------------------------------------------------------------------------------------------------

-- Many accounts at once: the planner cannot size the CTEs of billing_compute, and a nested loop over them is
-- quadratic. Hash joins and hash aggregates (with the memory to keep them in one batch) make a billing
-- statement one pass over its rows (docs/billing.md). For the rest of the transaction; `false` goes back to
-- the session's settings.
create or replace function internal.billing_bulk_plan(bulk boolean) returns void
language sql volatile
set search_path = ''
as $$
  select pg_catalog.set_config(x.name, case when billing_bulk_plan.bulk then b.value else x.reset_val end, true)
    from pg_catalog.pg_settings x
    join (values ('enable_nestloop', 'off'), ('enable_sort', 'off'), ('work_mem', '256MB')) b(name, value)
      on b.name = x.name
$$;
comment on function internal.billing_bulk_plan(boolean) is
  'Billing statements over many accounts: hash joins and aggregates in memory for this transaction (true), or back (false).';
revoke all on function internal.billing_bulk_plan(boolean) from public;

-- Whether an account's bill for the period is its final bill: the period holds the end of its last supply (one of
-- its supplies ends in it and none runs on after it). Not SECURITY DEFINER and without `set search_path`, so that
-- it is inlined into the set-based draft.
create or replace function internal.billing_is_final(account_id uuid, period_from date, period_to date)
returns boolean
language sql stable
as $$
  select exists (select 1 from public.account_supplies s
                  where s.account = account_id and s.end_date > period_from and s.end_date <= period_to)
         and not exists (select 1 from public.account_supplies s
                          where s.account = account_id and (s.end_date is null or s.end_date > period_to))
$$;
comment on function internal.billing_is_final(uuid, date, date) is
  'Whether the period holds the end of the account''s last supply (its bill is the final bill, docs/billing.md).';
revoke all on function internal.billing_is_final(uuid, date, date) from public;

-- Replaces the drafts of the given accounts for the period with freshly computed ones (one per account),
-- except for accounts that already have an issued document for it. Returns the drafts made. With `run_id`,
-- the interval data come from the run's daily aggregate (internal.billing_run_step takes it).
create or replace function internal.billing_draft(account_ids uuid[], period_from date, period_to date, run_id uuid,
                                                  as_of date)
returns integer
language plpgsql volatile
set search_path = ''
as $$
declare
  made integer;
  finals uuid[];
begin
  delete from public.invoices i
   where i.account = any (account_ids) and i.period_start = period_from and i.status = 'draft'
     and i.kind in ('invoice', 'statement');
  if cardinality(account_ids) > 20 then
    perform internal.billing_bulk_plan(true);
  end if;

  with accts as materialized (
    select a.id, a.esco, a.vat_rate_pct, case a.billing_mode when 'prepay' then 'statement' else 'invoice' end as kind,
           coalesce(bs.prepay_drift_tolerance_gbp, 1.00) as tolerance
      from public.accounts a
      left join public.billing_settings bs on bs.esco = a.esco
     where a.id = any (account_ids)
       and not exists (select 1 from public.invoices x
                        where x.account = a.id and x.period_start = period_from and x.kind in ('invoice', 'statement')
                          and x.status not in ('draft', 'void'))
  ),
  lines as materialized (
    select * from internal.billing_compute(array(select a.id from accts a), period_from, period_to, as_of, run_id)
  ),
  per as (
    select l.account, jsonb_agg(to_jsonb(l)) as lines from lines l group by l.account
  ),
  heads as materialized (
    select gen_random_uuid() as invoice_id, a.id as account_id, a.esco, a.kind, a.vat_rate_pct, a.tolerance, t.*,
           case when a.kind = 'statement' then internal.prepay_meter_charged(a.id, period_from, period_to) end as charged,
           internal.billing_is_final(a.id, period_from, period_to) as is_final
      from accts a
      join per p on p.account = a.id
      cross join lateral internal.billing_totals(p.lines, a.vat_rate_pct) t
  ),
  ins as (
    insert into public.invoices (id, esco, account, run, kind, period_start, period_end, is_final, estimated,
                                 vat_rate_pct, supply_subtotal, vat, export_credit, community_credit, total,
                                 meter_charged_gbp, drift_gbp, drift_flagged)
    select h.invoice_id, h.esco, h.account_id, run_id, h.kind, period_from, period_to, h.is_final, h.estimated,
           h.vat_rate_pct, h.supply_subtotal, h.vat, h.export_credit, h.community_credit, h.total,
           h.charged, h.total - h.charged, coalesce(abs(h.total - h.charged) > h.tolerance, false)
      from heads h
    returning id, is_final
  ),
  li as (
    insert into public.invoice_lines (invoice, esco, position, line_type, element, description, quantity, unit,
                                      unit_price, amount, from_date, to_date, estimated, tariff, customer_tariff, inputs)
    select h.invoice_id, l.esco, l.position, l.line_type, l.element, l.description, l.quantity, l.unit, l.unit_price, l.amount,
           l.from_date, l.to_date, l.estimated, l.tariff, l.customer_tariff, l.inputs
      from lines l join heads h on h.account_id = l.account
    returning 1
  )
  select coalesce(array_agg(ins.id) filter (where ins.is_final), '{}'), count(*)::integer into finals, made from ins;
  if cardinality(account_ids) > 20 then
    perform internal.billing_bulk_plan(false);
  end if;
  perform internal.final_bill_settle(finals);
  return made;
end
$$;
comment on function internal.billing_draft(uuid[], date, date, uuid, date) is
  'Replaces the accounts'' drafts for the period with freshly computed ones (set-based); skips accounts already issued.';
revoke all on function internal.billing_draft(uuid[], date, date, uuid, date) from public;

-- Final bills: what the account has at move-out (docs/billing.md, "Final bill at move-out"). The settlement lines
-- of one final bill, computed from the ledger and the meters as they are now; writes nothing. Used by
-- internal.final_bill_settle (the drafts) and by the dry run (public.monthly_costs_compute), so both show the
-- same figures:
--  * the ledger balance brought forward (B), an `account_balance` line outside the total (it is in the ledger);
--  * prepay: the credit left on the meters at move-out (Y, their last balance reading at or before the move-out
--    instant, within a day). The ledger already holds the top-ups and statements, so after this bill it expects
--    −(M + charges) on the meter, M being B without the refunds' entries (money paid back left the ESCO, not
--    the meter: a refund already paid of an earlier, voided version of this bill, or of a top-up, is not meter
--    credit spent); what the meter holds beyond that (meter credit loaded without a payment, or the meter
--    charging less than the statements) is credited: a `meter_credit` line of −max(0, Y + M + charges), in the
--    total, outside VAT.
-- charges = supply_subtotal + vat + export_credit + community_credit of the bill; the lines take the positions
-- after last_position (meter credit + 1, balance + 2). amount_due = total + B: the account's ledger balance once
-- the bill is issued.
create or replace function internal.final_bill_lines(account_id uuid, kind text, period_from date, period_to date,
                                                     charges numeric, last_position integer)
returns table (line_type text, description text, unit_price numeric, amount numeric, inputs jsonb, "position" integer)
language sql stable
set search_path = ''
as $$
  with ledger as (
    -- the balance before this bill: once it is issued, its own entries (its debit, the refund due) are left out,
    -- so a dry run after issue still shows what the bill carried; and that balance without the refunds' entries
    select coalesce(sum(e.amount), 0) as balance, coalesce(sum(e.amount) filter (where e.refund is null), 0) as paid_and_billed
      from public.ledger_entries e
     where e.account = final_bill_lines.account_id
       and not exists (select 1 from public.invoices i
                        where i.id = e.invoice and i.period_start = final_bill_lines.period_from
                          and i.kind = final_bill_lines.kind and i.status <> 'void')
  ),
  meter as (
    select sum(b.balance) as credit,
           string_agg(format('%s £%s at %s', m.serial, b.balance,
                             to_char(b."timestamp" at time zone 'Europe/London', 'YYYY-MM-DD HH24:MI')), ', '
                      order by m.serial) as readings,
           jsonb_agg(jsonb_build_object('meter', m.id, 'serial', m.serial, 'at', b."timestamp", 'balance', b.balance,
                                        'move_out', internal.london_midnight(s.end_date)) order by m.serial) as inputs
      from public.account_supplies s
      join flows.property_meters pm on pm.property = s.property
      join flows.meter_registry m on m.id = pm.meter
      cross join lateral (
        select x.balance, x."timestamp" from flows.meter_prepay_balance x
         where x.meter_id = m.id and x.balance is not null
           and x."timestamp" <= internal.london_midnight(s.end_date)
           and x."timestamp" > internal.london_midnight(s.end_date) - interval '1 day'
         order by x."timestamp" desc limit 1) b
     where final_bill_lines.kind = 'statement' and s.account = final_bill_lines.account_id
       and s.end_date > final_bill_lines.period_from and s.end_date <= final_bill_lines.period_to
  ),
  settle as (
    select l.balance, l.paid_and_billed, m.credit, m.readings, m.inputs as meter_inputs,
           final_bill_lines.charges as charges,
           -greatest(0, m.credit + l.paid_and_billed + final_bill_lines.charges) as meter_credit
      from ledger l cross join meter m
  )
  select 'meter_credit',
         case when s.meter_credit < 0
              then format('Credit left on your prepay meter at move-out (%s): £%s of it not yet on your account',
                          s.readings, -s.meter_credit)
              else format('Credit left on your prepay meter at move-out (%s): already on your account balance',
                          s.readings) end,
         (-s.meter_credit)::numeric(14, 5), s.meter_credit::numeric(12, 2),
         jsonb_build_object('rule', 'meter_credit', 'meters', s.meter_inputs, 'meter_credit', s.credit,
                            'ledger_balance', s.balance, 'refunds', s.balance - s.paid_and_billed,
                            'charges', s.charges),
         final_bill_lines.last_position + 1
    from settle s where s.credit is not null
  union all
  select 'account_balance',
         case when s.balance < 0
              then 'Credit on your account brought forward (payments, top-ups and credit notes not used yet)'
              else 'Balance brought forward (earlier bills not paid yet)' end,
         abs(s.balance)::numeric(14, 5), s.balance::numeric(12, 2),
         jsonb_build_object('rule', 'account_balance', 'ledger_balance', s.balance),
         final_bill_lines.last_position + 2
    from settle s where s.balance <> 0
$$;
comment on function internal.final_bill_lines(uuid, text, date, date, numeric, integer) is
  'The settlement lines of a final bill (meter_credit, account_balance) from the ledger and meters now; writes nothing (docs/billing.md).';
revoke all on function internal.final_bill_lines(uuid, text, date, date, numeric, integer) from public;

-- Final bills: the settlement lines (internal.final_bill_lines) recomputed on the drafts given (when drafted, and
-- again when issued, from the ledger as it is then), and their totals. One call per final draft, so a run's
-- other drafts cost nothing.
create or replace function internal.final_bill_settle(invoice_ids uuid[]) returns void
language plpgsql volatile
set search_path = ''
as $$
begin
  if cardinality(invoice_ids) = 0 then
    return;
  end if;
  delete from public.invoice_lines l
   using public.invoices i
   where l.invoice = i.id and i.id = any (invoice_ids) and i.status = 'draft' and i.is_final
     and l.line_type in ('meter_credit', 'account_balance');

  with f as materialized (
    select i.id, i.esco, i.account, i.kind, i.period_start, i.period_end,
           i.supply_subtotal + i.vat + i.export_credit + i.community_credit as charges,
           (select coalesce(max(l.position), 0) from public.invoice_lines l where l.invoice = i.id) as last_position
      from public.invoices i
     where i.id = any (invoice_ids) and i.status = 'draft' and i.is_final and i.kind in ('invoice', 'statement')
  )
  insert into public.invoice_lines (invoice, esco, position, line_type, description, quantity, unit, unit_price, amount,
                                    from_date, to_date, inputs)
  select f.id, f.esco, l.position, l.line_type, l.description, 1, 'item', l.unit_price, l.amount,
         f.period_start, f.period_end, l.inputs
    from f
    cross join lateral internal.final_bill_lines(f.account, f.kind, f.period_start, f.period_end, f.charges,
                                                 f.last_position) l;

  update public.invoices i
     set supply_subtotal = t.supply_subtotal, vat = t.vat, export_credit = t.export_credit,
         community_credit = t.community_credit, meter_credit = t.meter_credit, total = t.total,
         balance_brought_forward = coalesce((select l.amount from public.invoice_lines l
                                              where l.invoice = i.id and l.line_type = 'account_balance'), 0)
    from public.invoices x
    cross join lateral internal.billing_totals(
      (select jsonb_agg(to_jsonb(l)) from public.invoice_lines l where l.invoice = x.id), x.vat_rate_pct) t
   where i.id = x.id and x.id = any (invoice_ids) and x.status = 'draft' and x.is_final
     and x.kind in ('invoice', 'statement');
end
$$;
comment on function internal.final_bill_settle(uuid[]) is
  'Final bills (drafts): the ledger balance brought forward and the prepay meter credit left at move-out (docs/billing.md).';
revoke all on function internal.final_bill_settle(uuid[]) from public;

-- Issuing ---------------------------------------------------------------------------------------------------

-- Issues drafts: numbers from the gap-free series of each ESCO and kind (in this transaction, so a
-- rollback returns them), the ledger entry, estimates recorded for true-up, the event for notifications,
-- and a render job for the document. Returns how many were issued.
create or replace function internal.issue_invoices(invoice_ids uuid[]) returns integer
language plpgsql volatile
set search_path = ''
as $$
declare
  issued integer;
  credited uuid[];
begin
  perform 1 from public.invoices i where i.id = any (invoice_ids) and i.status = 'draft' order by i.id for update;
  -- final bills: the credit at move-out from the ledger and the meters as they are now
  perform internal.final_bill_settle(invoice_ids);

  with g as (
    select i.esco, i.kind, count(*)::integer as n
      from public.invoices i where i.id = any (invoice_ids) and i.status = 'draft'
     group by 1, 2
  ),
  up as (
    insert into internal.invoice_number_series as s (esco, kind, last_number)
    select g.esco, g.kind, g.n from g
    on conflict (esco, kind) do update set last_number = s.last_number + excluded.last_number
    returning s.esco, s.kind, s.last_number
  ),
  numbered as (
    select i.id, e.code || case i.kind when 'invoice' then '-INV-' when 'statement' then '-STM-' else '-CRN-' end
                 || lpad((up.last_number - g.n + row_number() over (partition by i.esco, i.kind
                                                                    order by a.account_number, i.id))::text, 6, '0') as number,
           coalesce(bs.invoice_due_days, 14) as due_days
      from public.invoices i
      join public.accounts a on a.id = i.account
      join flows.escos e on e.id = i.esco
      join g on g.esco = i.esco and g.kind = i.kind
      join up on up.esco = i.esco and up.kind = i.kind
      left join public.billing_settings bs on bs.esco = i.esco
     where i.id = any (invoice_ids) and i.status = 'draft'
  )
  update public.invoices i
     set status = 'issued', number = n.number, issued_at = now(),
         due_date = (now() at time zone 'Europe/London')::date + n.due_days
    from numbered n
   where i.id = n.id;
  get diagnostics issued = row_count;

  insert into public.ledger_entries (esco, account, kind, amount, invoice, description)
  select i.esco, i.account, i.kind, i.total, i.id,
         format('%s %s, %s to %s', initcap(replace(i.kind, '_', ' ')), i.number, i.period_start, i.period_end - 1)
    from public.invoices i
   where i.id = any (invoice_ids) and i.status = 'issued'
  on conflict (invoice, kind) do nothing;

  -- A final bill whose credit exceeds what is owed: the credit is refunded (a refund due, paid by the ESCO),
  -- which debits the ledger back to zero (an entry of kind refund naming the refund and the bill).
  with due as (
    select i.id, i.esco, i.account, i.number, -i.amount_due as amount
      from public.invoices i
     where i.id = any (invoice_ids) and i.status = 'issued' and i.is_final and i.kind in ('invoice', 'statement')
       and i.amount_due < 0
  ), refund as (
    insert into public.refunds (esco, account, amount, reason, source, status)
    select d.esco, d.account, d.amount, format('Credit at move-out, final bill %s', d.number), 'billing:' || d.id,
           'requested'
      from due d
    on conflict (source) do nothing
    returning id, source
  )
  insert into public.ledger_entries (esco, account, kind, amount, invoice, refund, description)
  select d.esco, d.account, 'refund', d.amount, d.id, r.id,
         format('Refund due of the credit at move-out (final bill %s)', d.number)
    from due d
    join refund r on r.source = 'billing:' || d.id
  on conflict (invoice, kind) do nothing;
  -- Money the accounts already hold (over-payments, payments released from a voided invoice) pays the new
  -- invoices at once, oldest due first, so that an invoice the credit covers is never chased as unpaid.
  credited := array(select distinct i.account from public.invoices i
                     where i.id = any (invoice_ids) and i.status = 'issued' and i.kind = 'invoice');
  if cardinality(credited) > 0 then
    perform internal.payments_post(credited);
  end if;

  insert into internal.billing_estimates (invoice, register_id, day, element, estimated_kwh, unit_price)
  select l.invoice, (e ->> 'register_id')::uuid, (e ->> 'day')::date, l.element, (e ->> 'kwh')::numeric, l.unit_price
    from public.invoice_lines l
    cross join lateral jsonb_array_elements(l.inputs -> 'estimates') e
   where l.invoice = any (invoice_ids) and l.line_type = 'unit_charge' and jsonb_typeof(l.inputs -> 'estimates') = 'array'
  on conflict do nothing;

  update internal.billing_estimates e
     set trued_up_by = t.invoice
    from (select l.invoice, (x ->> 'invoice')::uuid as original, (x ->> 'register_id')::uuid as register_id,
                 (x ->> 'day')::date as day
            from public.invoice_lines l
            cross join lateral jsonb_array_elements(l.inputs -> 'true_up') x
           where l.invoice = any (invoice_ids) and l.line_type = 'adjustment'
             and jsonb_typeof(l.inputs -> 'true_up') = 'array') t
   where e.invoice = t.original and e.register_id = t.register_id and e.day = t.day and e.trued_up_by is null;

  insert into internal.billing_events (event, invoice, account, esco)
  select 'invoice_issued', i.id, i.account, i.esco from public.invoices i
   where i.id = any (invoice_ids) and i.status = 'issued'
  on conflict do nothing;

  if issued > 0 then
    perform internal.enqueue('billing__run', json_build_object('render', true), 'billing_render');
  end if;
  return issued;
end
$$;
comment on function internal.issue_invoices(uuid[]) is
  'Issues drafts: gap-free numbers, ledger entries, estimates for true-up, the invoice_issued event, a render job.';
revoke all on function internal.issue_invoices(uuid[]) from public;

-- Runs ------------------------------------------------------------------------------------------------------

create or replace function internal.billing_run_prepare(esco_id uuid, month date, who text)
returns public.billing_runs
language plpgsql volatile
set search_path = ''
as $$
declare
  period date := date_trunc('month', month)::date;
  r public.billing_runs;
begin
  if month is null or period > date_trunc('month', now() at time zone 'Europe/London')::date then
    raise exception 'cannot bill a future month (%)', period
      using errcode = '22023', hint = 'Pass the first day of a month that has started (Europe/London).';
  end if;
  insert into public.billing_settings (esco, legal_name)
  select e.id, e.name from flows.escos e where e.id = esco_id
  on conflict (esco) do nothing;
  insert into public.billing_runs (esco, period_start, started_by) values (esco_id, period, who)
  on conflict (esco, period_start) do nothing;
  select * into r from public.billing_runs x where x.esco = esco_id and x.period_start = period for update;
  if r.status = 'issued' then
    raise exception 'the billing run for % is already issued', to_char(period, 'YYYY-MM')
      using errcode = 'PT409', hint = 'Void and rebill individual invoices instead.';
  end if;
  if r.status in ('drafted', 'failed') then
    update public.billing_runs x set status = 'queued', started_by = who, bill_date = (now() at time zone 'Europe/London')::date
     where x.id = r.id returning * into r;
  end if;
  return r;
end
$$;
comment on function internal.billing_run_prepare(uuid, date, text) is
  'Creates the run of an ESCO and month, or requeues it for a rerun (never an issued one); one run per ESCO and month.';
revoke all on function internal.billing_run_prepare(uuid, date, text) from public;

create or replace function internal.billing_run_accounts(run_esco uuid, period_from date) returns setof uuid
language sql stable
set search_path = ''
as $$
  select distinct s.account from public.account_supplies s
   where s.esco = run_esco
     and daterange(s.start_date, s.end_date) && daterange(period_from, (period_from + interval '1 month')::date)
$$;
comment on function internal.billing_run_accounts(uuid, date) is 'Accounts of the ESCO supplied during the month.';
revoke all on function internal.billing_run_accounts(uuid, date) from public;

-- One step of a run, in the caller's transaction: drafts the next batch of accounts not yet done in this
-- pass. Safe to repeat, to kill and to call concurrently (the run row is locked).
create or replace function internal.billing_run_step(run_id uuid, batch_size integer default 500) returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  r public.billing_runs;
  batch uuid[];
  period_to date;
begin
  select * into r from public.billing_runs x where x.id = run_id for update;
  if not found then
    raise exception 'billing run % not found', run_id using errcode = 'PT404', hint = 'Start it with billing_run_start.';
  end if;
  period_to := (r.period_start + interval '1 month')::date;
  if r.status in ('queued', 'failed') then
    update public.billing_runs x
       set status = 'running', started_at = now(), finished_at = null, errors = '[]', accounts_done = 0,
           accounts_total = (select count(*) from internal.billing_run_accounts(r.esco, r.period_start)),
           aggregated_at = null
     where x.id = r.id returning * into r;
  end if;
  if r.status = 'running' and r.aggregated_at is null then
    -- The pass's first step: the interval data of all the ESCO's registers per register and local day, in one
    -- aggregate like the floor's; the batches join this small result (docs/billing.md, "Runs").
    delete from internal.billing_register_days d where d.run = r.id;
    perform internal.billing_bulk_plan(true);
    insert into internal.billing_register_days (run, register_id, day, import_kwh, export_kwh, present, export_present)
    select r.id, d.register_id, d.day, d.import_kwh, d.export_kwh, d.present, d.export_present
      from internal.billing_interval_days(
             array(select g.register_id from flows.meter_registers g
                    where g.esco = r.esco
                      and tstzrange(g.start_time, g.end_time) && tstzrange(internal.london_midnight(r.period_start),
                                                                           internal.london_midnight(period_to))),
             r.period_start, period_to) d;
    perform internal.billing_bulk_plan(false);
    update public.billing_runs x set aggregated_at = now() where x.id = r.id returning * into r;
  elsif r.status = 'running' then
    batch := array(
      select a from internal.billing_run_accounts(r.esco, r.period_start) a
       where not exists (select 1 from public.invoices i
                          where i.account = a and i.period_start = r.period_start and i.kind in ('invoice', 'statement')
                            and (i.status not in ('draft', 'void') or (i.run = r.id and i.created_at >= r.started_at)))
         and not r.errors @> jsonb_build_array(jsonb_build_object('account', a))
       order by a
       limit greatest(batch_size, 1));
    if cardinality(batch) = 0 then
      update public.billing_runs x set status = 'drafted', finished_at = now() where x.id = r.id returning * into r;
      delete from internal.billing_register_days d where d.run = r.id;
    else
      -- Whose meter is unknown is not billed: a property on a service head shared by neighbours whose meter names
      -- no home (flows.service_head_meter.property; such a meter supplies no one, flows.property_meters), or a meter
      -- that supplies two properties supplied this month. Those accounts are not drafted, an error each naming the
      -- meters, until an operator names the property each supplies; no home pays for a neighbour's meter, and none
      -- goes unbilled for its own.
      update public.billing_runs x
         set errors = x.errors || coalesce((
               select jsonb_agg(jsonb_build_object('account', a.id, 'account_number', a.account_number,
                                                   'error', format('meter %s on a service head shared with another '
                                                     || 'property: name the property it supplies '
                                                     || '(flows.service_head_meter.property)', e.serials))
                                order by a.account_number)
                 from (select u.account, string_agg(distinct u.serial, ', ' order by u.serial) as serials
                         from (select s.account, m.serial
                                 from public.account_supplies s
                                 join flows.properties_service_head psh on psh.property = s.property
                                 join flows.service_head_meter shm on shm.service_head = psh.service_head
                                 join flows.meter_registry m on m.id = shm.meter
                                where s.account = any (batch) and shm.property is null
                                  and daterange(s.start_date, s.end_date) && daterange(r.period_start, period_to)
                                  and exists (select 1 from flows.properties_service_head o
                                               where o.service_head = psh.service_head and o.property <> psh.property)
                               union all
                               select s.account, m.serial
                                 from public.account_supplies s
                                 join flows.property_meters pm on pm.property = s.property
                                 join flows.meter_registry m on m.id = pm.meter
                                where s.account = any (batch)
                                  and daterange(s.start_date, s.end_date) && daterange(r.period_start, period_to)
                                  and exists (select 1 from flows.property_meters o
                                                join public.account_supplies os on os.property = o.property
                                               where o.meter = pm.meter and o.property <> pm.property
                                                 and daterange(os.start_date, os.end_date)
                                                     && daterange(r.period_start, period_to))) u
                        group by u.account) e
                 join public.accounts a on a.id = e.account), '[]')
       where x.id = r.id returning * into r;
      batch := array(select a from unnest(batch) a
                      where not r.errors @> jsonb_build_array(jsonb_build_object('account', a)));
      perform internal.billing_draft(batch, r.period_start, period_to, r.id, r.bill_date);
      update public.billing_runs x
         set errors = x.errors || coalesce((
               select jsonb_agg(jsonb_build_object('account', a.id, 'account_number', a.account_number,
                                                   'error', 'nothing to bill: no tariff in force or no supplied day'))
                 from public.accounts a
                where a.id = any (batch)
                  and not exists (select 1 from public.invoices i
                                   where i.account = a.id and i.period_start = r.period_start
                                     and i.kind in ('invoice', 'statement') and i.status <> 'void')), '[]')
       where x.id = r.id returning * into r;
    end if;
    update public.billing_runs x
       set accounts_done = (
             select count(*) from internal.billing_run_accounts(r.esco, r.period_start) a
              where exists (select 1 from public.invoices i
                             where i.account = a and i.period_start = r.period_start and i.kind in ('invoice', 'statement')
                               and (i.status not in ('draft', 'void') or (i.run = r.id and i.created_at >= r.started_at)))
                 or r.errors @> jsonb_build_array(jsonb_build_object('account', a))),
           invoices_drafted = (select count(*) from public.invoices i where i.run = r.id and i.status = 'draft')
     where x.id = r.id returning * into r;
  end if;
  return jsonb_build_object('status', r.status, 'accounts_total', r.accounts_total, 'accounts_done', r.accounts_done,
                            'invoices_drafted', r.invoices_drafted, 'errors', jsonb_array_length(r.errors));
end
$$;
comment on function internal.billing_run_step(uuid, integer) is
  'billing__run: drafts the next batch of a run''s accounts; returns progress. Idempotent and crash-safe (docs/billing.md).';
revoke all on function internal.billing_run_step(uuid, integer) from public;
grant execute on function internal.billing_run_step(uuid, integer) to worker;

create or replace function public.billing_run_start(esco_code text, month date) returns public.billing_runs
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  esco_id uuid;
  r public.billing_runs;
begin
  select e.id into esco_id from flows.escos e where e.code = esco_code;
  if esco_id is null or not internal.billing_can_manage(esco_id) or current_setting('role', true) = 'worker' then
    raise exception 'no ESCO % among yours', coalesce(quote_literal(esco_code), 'null')
      using errcode = 'PT404', hint = 'Check the ESCO code.';
  end if;
  r := internal.billing_run_prepare(esco_id, month, coalesce(internal.jwt_sub(), current_user));
  if r.status = 'queued' then
    perform internal.enqueue('billing__run', json_build_object('runId', r.id), 'billing_run:' || r.id);
  end if;
  return r;
end
$$;
comment on function public.billing_run_start(text, date) is $$Starts (or reruns) the billing run of an ESCO for a month; returns the run.
One run per ESCO and month: a second start while it runs returns the same run. A rerun replaces drafts, never issued documents.
The billing__run job does the work; watch public.billing_runs for progress.$$;
revoke all on function public.billing_run_start(text, date) from public;
grant execute on function public.billing_run_start(text, date) to operator;

create or replace function public.billing_run_issue(run_id uuid) returns public.billing_runs
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  r public.billing_runs;
  n integer;
begin
  select * into r from public.billing_runs x where x.id = run_id for update;
  if not found or not internal.billing_can_manage(r.esco) then
    raise exception 'billing run not found' using errcode = 'PT404', hint = 'Check the run id.';
  end if;
  if r.status <> 'drafted' then
    raise exception 'the billing run is %, not drafted', r.status
      using errcode = 'PT409',
            hint = case r.status when 'issued' then 'It is issued already: there is nothing left to issue.'
                                 when 'failed' then 'Start the run again (billing_run_start).'
                                 else 'Wait for the run to finish drafting (status drafted).' end;
  end if;
  n := internal.issue_invoices(array(select i.id from public.invoices i where i.run = r.id and i.status = 'draft'));
  update public.billing_runs x set status = 'issued', invoices_issued = x.invoices_issued + n
   where x.id = r.id returning * into r;
  return r;
end
$$;
comment on function public.billing_run_issue(uuid) is 'Issues every draft of a drafted run (numbers, ledger, documents, notifications).';
revoke all on function public.billing_run_issue(uuid) from public;
grant execute on function public.billing_run_issue(uuid) to operator;

-- Single invoices -------------------------------------------------------------------------------------------

create or replace function internal.invoice_for_operator(invoice_id uuid) returns public.invoices
language plpgsql stable
set search_path = ''
as $$
declare
  i public.invoices;
begin
  select * into i from public.invoices x where x.id = invoice_id;
  if not found or not internal.billing_can_manage(i.esco) then
    raise exception 'invoice not found' using errcode = 'PT404', hint = 'Check the invoice id.';
  end if;
  return i;
end
$$;
comment on function internal.invoice_for_operator(uuid) is 'The invoice, if the caller manages its ESCO; PT404 otherwise.';
revoke all on function internal.invoice_for_operator(uuid) from public;

create or replace function public.invoice_issue(invoice_id uuid) returns public.invoices
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  i public.invoices := internal.invoice_for_operator(invoice_id);
begin
  if i.status <> 'draft' then
    raise exception 'the invoice is %, not a draft', i.status using errcode = 'PT409', hint = 'Only drafts are issued.';
  end if;
  perform internal.issue_invoices(array[i.id]);
  select * into i from public.invoices x where x.id = invoice_id;
  return i;
end
$$;
comment on function public.invoice_issue(uuid) is 'Issues one draft: assigns its number, debits the ledger, stores the document, notifies.';
revoke all on function public.invoice_issue(uuid) from public;
grant execute on function public.invoice_issue(uuid) to operator;

create or replace function public.invoice_void(invoice_id uuid, reason text) returns public.invoices
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  i public.invoices := internal.invoice_for_operator(invoice_id);
  credit_id uuid := gen_random_uuid();
  c public.invoices;
begin
  if i.kind = 'credit_note' or i.status not in ('issued', 'paid', 'partially_paid') then
    raise exception 'only an issued invoice or statement can be voided (this one is a % %)', i.status, i.kind
      using errcode = 'PT409', hint = 'Drafts are replaced by rerunning; credit notes are final.';
  end if;
  if reason is null or btrim(reason) = '' then
    raise exception 'a reason is required' using errcode = '22023', hint = 'Say why the invoice is voided.';
  end if;
  -- A draft that trues up its estimates would charge the difference again once a rebill bills those days at their
  -- actual kWh; issued first, its true-up stands and the rebill bills those days as they were billed (rule 5).
  if exists (select 1 from public.invoices d
               join public.invoice_lines l on l.invoice = d.id and l.line_type = 'adjustment'
              cross join lateral jsonb_array_elements(case jsonb_typeof(l.inputs -> 'true_up')
                                                        when 'array' then l.inputs -> 'true_up' else '[]' end) x
              where d.account = i.account and d.status = 'draft' and x ->> 'invoice' = i.id::text) then
    raise exception 'a draft of this account trues up the estimates of this %', i.kind using errcode = 'PT409',
      hint = 'Issue that draft first; the rebill then bills the estimated days as they were billed.';
  end if;
  insert into public.invoices (id, esco, account, kind, period_start, period_end, is_final, estimated, vat_rate_pct,
                               supply_subtotal, vat, export_credit, community_credit, meter_credit, total, credits,
                               void_reason)
  values (credit_id, i.esco, i.account, 'credit_note', i.period_start, i.period_end, i.is_final, i.estimated,
          i.vat_rate_pct, -i.supply_subtotal, -i.vat, -i.export_credit, -i.community_credit, -i.meter_credit, -i.total,
          i.id, reason);
  insert into public.invoice_lines (invoice, esco, position, line_type, element, description, quantity, unit, unit_price,
                                    amount, from_date, to_date, estimated, tariff, customer_tariff, inputs)
  select credit_id, l.esco, l.position, l.line_type, l.element, 'Credit: ' || l.description, -l.quantity, l.unit,
         l.unit_price, -l.amount, l.from_date, l.to_date, l.estimated, l.tariff, l.customer_tariff,
         jsonb_build_object('rule', 'credit_note', 'credits_line', l.id)
    from public.invoice_lines l where l.invoice = i.id and l.line_type <> 'account_balance';
  update public.invoices x set status = 'void', void_reason = reason where x.id = i.id;
  -- The money that paid it is the account's again (credit, as the credit note's ledger entry says): it pays the
  -- account's other open invoices, and the rebill when that is issued.
  perform internal.lock_account_postings(array[i.account]);
  with released as (
    delete from public.payment_allocations a where a.invoice = i.id returning a.payment
  )
  update public.payments p set status = 'received'
   where p.id in (select r.payment from released r) and p.status = 'allocated';
  -- estimates it trued up are open again; its own estimates no longer count (void invoices are skipped)
  update internal.billing_estimates e set trued_up_by = null where e.trued_up_by = i.id;
  perform internal.issue_invoices(array[credit_id]);
  -- once the credit note is on the ledger (payments_post allocates no more than the credit the ledger holds)
  perform internal.payments_post(array[i.account]);
  insert into internal.billing_events (event, invoice, account, esco) values ('invoice_voided', i.id, i.account, i.esco)
  on conflict do nothing;
  select * into c from public.invoices x where x.id = credit_id;
  return c;
end
$$;
comment on function public.invoice_void(uuid, text) is
  'Voids an issued invoice or statement: issues a credit note that reverses it (lines, totals and ledger); returns the credit note.';
revoke all on function public.invoice_void(uuid, text) from public;
grant execute on function public.invoice_void(uuid, text) to operator;

create or replace function public.invoice_rebill(invoice_id uuid) returns public.invoices
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  i public.invoices := internal.invoice_for_operator(invoice_id);
  d public.invoices;
begin
  if i.status <> 'void' or i.kind = 'credit_note' then
    raise exception 'only a voided invoice or statement can be rebilled'
      using errcode = 'PT409', hint = 'Void it first (invoice_void), then rebill.';
  end if;
  -- rebilled already: the same draft again (a retried request must not replace the draft it was given)
  select * into d from public.invoices x where x.replaces = i.id and x.status = 'draft';
  if found then
    return d;
  end if;
  perform internal.billing_draft(array[i.account], i.period_start, i.period_end, null,
                                 (now() at time zone 'Europe/London')::date);
  update public.invoices x set replaces = i.id
   where x.account = i.account and x.period_start = i.period_start and x.status = 'draft' and x.kind = i.kind
  returning * into d;
  if d.id is null then
    raise exception 'nothing to rebill for that period' using errcode = 'PT409',
      hint = 'An issued document already covers it, or the account has no tariff or supply in the period.';
  end if;
  return d;
end
$$;
comment on function public.invoice_rebill(uuid) is 'Drafts a replacement for a voided invoice or statement, computed afresh; returns the draft (the same one when called again before it is issued).';
revoke all on function public.invoice_rebill(uuid) from public;
grant execute on function public.invoice_rebill(uuid) to operator;

create or replace function public.invoice_dispute(invoice_id uuid, reason text) returns public.invoices
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  i public.invoices;
begin
  select * into i from public.invoices x where x.id = invoice_id;
  if not found or current_setting('role', true) not in ('customer', 'operator')
     or not internal.billing_can_read(i.account, i.esco)
     or (current_setting('role', true) = 'customer' and i.status = 'draft') then
    raise exception 'invoice not found' using errcode = 'PT404', hint = 'Check the invoice id.';
  end if;
  if i.status not in ('issued', 'paid', 'partially_paid') or i.disputed then
    raise exception 'the invoice cannot be disputed (it is % and % disputed)', i.status,
      case when i.disputed then 'already' else 'not' end
      using errcode = 'PT409', hint = 'Issued invoices can be disputed once until resolved.';
  end if;
  if reason is null or btrim(reason) = '' then
    raise exception 'a reason is required' using errcode = '22023', hint = 'Say what is wrong with the invoice.';
  end if;
  update public.invoices x set disputed = true, dispute_reason = reason, disputed_at = now(),
                               dispute_resolution = null, dispute_resolved_at = null
   where x.id = i.id returning * into i;
  return i;
end
$$;
comment on function public.invoice_dispute(uuid, text) is 'Flags an issued invoice as disputed, with the reason (its customer or an operator of its ESCO).';
revoke all on function public.invoice_dispute(uuid, text) from public;
grant execute on function public.invoice_dispute(uuid, text) to customer, operator;

create or replace function public.invoice_dispute_resolve(invoice_id uuid, resolution text) returns public.invoices
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  i public.invoices := internal.invoice_for_operator(invoice_id);
begin
  if not i.disputed then
    raise exception 'the invoice is not disputed' using errcode = 'PT409', hint = 'Nothing to resolve.';
  end if;
  if resolution is null or btrim(resolution) = '' then
    raise exception 'a resolution is required' using errcode = '22023', hint = 'Say how the dispute was resolved.';
  end if;
  update public.invoices x set disputed = false, disputed_at = null, dispute_resolution = resolution,
                               dispute_resolved_at = now()
   where x.id = i.id returning * into i;
  return i;
end
$$;
comment on function public.invoice_dispute_resolve(uuid, text) is 'Resolves a dispute (operator); void and rebill separately if the invoice was wrong.';
revoke all on function public.invoice_dispute_resolve(uuid, text) from public;
grant execute on function public.invoice_dispute_resolve(uuid, text) to operator;

-- Dry run ---------------------------------------------------------------------------------------------------

create or replace function public.monthly_costs_compute(account_id uuid, month date) returns jsonb
language plpgsql stable security definer
set search_path = ''
as $$
declare
  a public.accounts;
  period_from date := date_trunc('month', month)::date;
  period_to date := (date_trunc('month', month) + interval '1 month')::date;
  bill_kind text;
  final_month boolean;
  lines jsonb;
  result jsonb;
begin
  select * into a from public.accounts x where x.id = account_id;
  if not found or current_setting('role', true) not in ('customer', 'operator')
     or not internal.billing_can_read(a.id, a.esco) then
    raise exception 'account not found' using errcode = 'PT404', hint = 'Check the account id.';
  end if;
  if month is null then
    raise exception 'month is required' using errcode = '22023', hint = 'Pass any day of the month, e.g. 2026-10-01.';
  end if;
  bill_kind := case a.billing_mode when 'prepay' then 'statement' else 'invoice' end;
  final_month := internal.billing_is_final(a.id, period_from, period_to);
  select coalesce(jsonb_agg(to_jsonb(l) - 'account' - 'esco' order by l.position), '[]') into lines
    from internal.billing_compute(array[a.id], period_from, period_to, (now() at time zone 'Europe/London')::date) l;
  -- its settlement at move-out, as the draft and the issued bill get it (internal.final_bill_settle); a month
  -- without any line makes no bill, so nothing to settle
  if final_month and jsonb_array_length(lines) > 0 then
    select lines || coalesce(jsonb_agg(jsonb_build_object(
                      'position', s.position, 'line_type', s.line_type, 'element', null, 'description', s.description,
                      'quantity', 1::numeric(14, 3), 'unit', 'item', 'unit_price', s.unit_price, 'amount', s.amount,
                      'from_date', period_from, 'to_date', period_to, 'estimated', false, 'tariff', null,
                      'customer_tariff', null, 'inputs', s.inputs) order by s.position), '[]')
      into lines
      from internal.billing_totals(lines, a.vat_rate_pct) t
      cross join lateral internal.final_bill_lines(
        a.id, bill_kind, period_from, period_to, t.supply_subtotal + t.vat + t.export_credit + t.community_credit,
        (select max((x ->> 'position')::integer) from jsonb_array_elements(lines) x)) s;
  end if;
  select jsonb_build_object(
           'account', a.id, 'account_number', a.account_number, 'kind', bill_kind,
           'period_start', period_from, 'period_end', period_to, 'is_final', final_month, 'vat_rate_pct', a.vat_rate_pct,
           'supply_subtotal', t.supply_subtotal, 'vat', t.vat, 'export_credit', t.export_credit,
           'community_credit', t.community_credit, 'meter_credit', t.meter_credit, 'total', t.total,
           'balance_brought_forward', b.amount, 'amount_due', (t.total + b.amount)::numeric(12, 2),
           'estimated', t.estimated,
           'meter_charged_gbp', case when a.billing_mode = 'prepay'
                                     then internal.prepay_meter_charged(a.id, period_from, period_to) end,
           'lines', lines)
    into result
    from internal.billing_totals(lines, a.vat_rate_pct) t
    cross join lateral (
      select coalesce(sum((x ->> 'amount')::numeric) filter (where x ->> 'line_type' = 'account_balance'), 0)::numeric(12, 2)
             as amount
        from jsonb_array_elements(lines) x) b;
  return result;
end
$$;
comment on function public.monthly_costs_compute(uuid, date) is $$Dry run: the lines and totals an account's bill for a month would have, computed now; writes nothing.
For the account's final month (its last supply ends in it: is_final) also the settlement at move-out the final bill gets (meter_credit and account_balance lines, balance_brought_forward, amount_due = total + balance_brought_forward), from the ledger and meters as they are now. For the account's customers and the operators of its ESCO. Amounts in £, credits negative.$$;
revoke all on function public.monthly_costs_compute(uuid, date) from public;
grant execute on function public.monthly_costs_compute(uuid, date) to customer, operator;

-- The invoice document --------------------------------------------------------------------------------------

create or replace function public.invoice_pdf(invoice_id uuid) returns public."application/pdf"
language plpgsql stable security definer
set search_path = ''
as $$
declare
  i public.invoices;
  pdf bytea;
begin
  select * into i from public.invoices x where x.id = invoice_id;
  if not found or current_setting('role', true) not in ('customer', 'operator')
     or not internal.billing_can_read(i.account, i.esco) or i.status = 'draft' then
    raise exception 'invoice not found' using errcode = 'PT404', hint = 'Check the invoice id.';
  end if;
  select d.pdf into pdf from internal.invoice_documents d where d.invoice = i.id;
  if pdf is null then
    raise exception 'the document of invoice % is not rendered yet', i.number
      using errcode = 'PT404', hint = 'Documents are rendered by the worker shortly after issue; try again.';
  end if;
  return pdf;
end
$$;
comment on function public.invoice_pdf(uuid) is $$The PDF of an issued invoice, statement or credit note (Accept: application/pdf).
For its customers and the operators of its ESCO.$$;
revoke all on function public.invoice_pdf(uuid) from public;
grant execute on function public.invoice_pdf(uuid) to customer, operator;

-- Everything a document shows, as JSON, for the renderer (src/billing/document.ts). Amounts and
-- quantities are strings (exact decimals; the renderer never turns money into floats).
create or replace function internal.invoice_document_data(invoice_id uuid) returns jsonb
language sql stable security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'invoice', jsonb_build_object(
      'id', i.id, 'kind', i.kind, 'status', i.status, 'number', i.number, 'period_start', i.period_start,
      'period_end', i.period_end, 'is_final', i.is_final, 'estimated', i.estimated, 'vat_rate_pct', i.vat_rate_pct::text,
      'supply_subtotal', i.supply_subtotal::text, 'vat', i.vat::text, 'export_credit', i.export_credit::text,
      'community_credit', i.community_credit::text, 'meter_credit', i.meter_credit::text, 'total', i.total::text,
      'balance_brought_forward', i.balance_brought_forward::text, 'amount_due', i.amount_due::text,
      'issued_at', i.issued_at,
      'due_date', i.due_date, 'meter_charged_gbp', i.meter_charged_gbp::text, 'drift_gbp', i.drift_gbp::text,
      'drift_flagged', i.drift_flagged, 'credits_number', (select c.number from public.invoices c where c.id = i.credits)),
    'lines', (select coalesce(jsonb_agg(jsonb_build_object(
                 'line_type', l.line_type, 'element', l.element, 'description', l.description,
                 'quantity', l.quantity::text, 'unit', l.unit, 'unit_price', l.unit_price::text, 'amount', l.amount::text,
                 'from_date', l.from_date, 'to_date', l.to_date, 'estimated', l.estimated) order by l.position), '[]')
                from public.invoice_lines l where l.invoice = i.id),
    'esco', jsonb_build_object('code', e.code, 'name', e.name),
    'settings', (select jsonb_build_object('legal_name', bs.legal_name, 'address', bs.address,
                                           'vat_registration', bs.vat_registration, 'bank_details', bs.bank_details,
                                           'payment_instructions', bs.payment_instructions,
                                           'contact_email', bs.contact_email, 'contact_phone', bs.contact_phone)
                   from public.billing_settings bs where bs.esco = i.esco),
    'account', jsonb_build_object('account_number', a.account_number, 'payment_reference', a.payment_reference,
                                  'billing_mode', a.billing_mode),
    'customer', (select jsonb_build_object('name', c.name)
                   from public.customer_accounts ca join public.customers c on c.id = ca.customer
                  where ca.account = a.id order by (ca.role = 'holder') desc, c.name limit 1),
    'properties', (select coalesce(jsonb_agg(distinct coalesce(p.address, p.plot)), '[]')
                     from public.account_supplies s join flows.properties p on p.id = s.property
                    where s.account = a.id
                      and daterange(s.start_date, s.end_date) && daterange(i.period_start, i.period_end)),
    'reads', (select coalesce(jsonb_agg(jsonb_build_object('serial', m.serial, 'element', r.element, 'kind', x.kind,
                                                           'at', x.at, 'read', x.read::text)
                                        order by m.serial, r.element, x.kind desc), '[]')
                from public.account_supplies s
                join flows.property_meters pm on pm.property = s.property
                join flows.meter_registry m on m.id = pm.meter
                join flows.meter_registers r on r.meter_id = m.id
                cross join lateral (
                  select b.kind, ri."timestamp" as at, ri.read
                    from (values ('opening', internal.london_midnight(greatest(s.start_date, i.period_start))),
                                 ('closing', internal.london_midnight(least(coalesce(s.end_date, i.period_end), i.period_end)))) b(kind, at)
                    cross join lateral (select x.* from internal.billing_register_reads x
                                         where x.register_id = r.register_id and x.direction = 'import'
                                           and x."timestamp" <= b.at
                                           and x."timestamp" > b.at - interval '2 days'
                                         order by x."timestamp" desc limit 1) ri) x
               where s.account = a.id and daterange(s.start_date, s.end_date) && daterange(i.period_start, i.period_end)),
    'daily', (select coalesce(jsonb_agg(jsonb_build_object('day', d.day, 'kwh', d.kwh::text) order by d.day), '[]')
                from (select (h."timestamp" at time zone 'Europe/London')::date as day, sum(h.import_kwh) as kwh
                        from public.account_supplies s
                        join flows.property_meters pm on pm.property = s.property
                        join flows.meter_registers r on r.meter_id = pm.meter and r.nature <> 'solar'
                        join internal.billing_interval_hh h on h.register_id = r.register_id
                       where s.account = a.id
                         and daterange(s.start_date, s.end_date) && daterange(i.period_start, i.period_end)
                         and h."timestamp" >= internal.london_midnight(greatest(s.start_date, i.period_start))
                         and h."timestamp" < internal.london_midnight(least(coalesce(s.end_date, i.period_end), i.period_end))
                       group by 1) d))
    from public.invoices i
    join public.accounts a on a.id = i.account
    join flows.escos e on e.id = i.esco
   where i.id = invoice_id
$$;
comment on function internal.invoice_document_data(uuid) is 'Everything an invoice document shows, as JSON with exact decimals as strings (for the renderer); meter reads and daily kWh as billing reads them (internal.billing_interval_hh, internal.billing_register_reads).';
revoke all on function internal.invoice_document_data(uuid) from public;
grant execute on function internal.invoice_document_data(uuid) to worker;

create or replace function internal.invoice_documents_pending(max_count integer default 100) returns setof uuid
language sql stable security definer
set search_path = ''
as $$
  select i.id from public.invoices i
   where i.status <> 'draft' and not exists (select 1 from internal.invoice_documents d where d.invoice = i.id)
   order by i.issued_at, i.id
   limit max_count
$$;
comment on function internal.invoice_documents_pending(integer) is 'Issued documents not rendered yet.';
revoke all on function internal.invoice_documents_pending(integer) from public;
grant execute on function internal.invoice_documents_pending(integer) to worker;

create or replace function internal.invoice_document_store(invoice_id uuid, html text, pdf bytea, pages integer)
returns void
language sql volatile security definer
set search_path = ''
as $$
  insert into internal.invoice_documents (invoice, html, pdf, pages) values (invoice_id, html, pdf, pages)
  on conflict (invoice) do nothing
$$;
comment on function internal.invoice_document_store(uuid, text, bytea, integer) is
  'Stores a rendered document once (the first rendering wins: an issued document never changes).';
revoke all on function internal.invoice_document_store(uuid, text, bytea, integer) from public;
grant execute on function internal.invoice_document_store(uuid, text, bytea, integer) to worker;
