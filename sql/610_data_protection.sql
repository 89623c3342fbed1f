-- Data protection (docs/security.md, "Data protection"): a customer's data as one JSON document
-- (public.customer_data_export) and their erasure by pseudonymisation (public.customer_erase), which keeps the
-- financial records and is the one documented path that also redacts personal values inside the audit trail.

-- Caller check ----------------------------------------------------------------------------------------------

create or replace function internal.data_protection_can(customer_id uuid, esco_id uuid, erase boolean)
returns boolean
language sql stable
set search_path = ''
as $$
  select coalesce(case current_setting('role', true)
           when 'customer' then not erase and customer_id = internal.my_customer_id()
           when 'operator' then esco_id = any (internal.operator_escos())
           when 'anon' then false
           when 'service' then false
           when 'worker' then false
           when 'reporting' then false
           else true -- owner, administrators (psql)
         end, false)
$$;
comment on function internal.data_protection_can(uuid, uuid, boolean) is
  'Whether the caller may export (the customer themself, an operator of their ESCO) or erase (an operator of their ESCO) the customer.';
revoke all on function internal.data_protection_can(uuid, uuid, boolean) from public;

-- What is about the customer on an account (docs/security.md, "Data protection"). On an account they are linked to
-- now, everything (the account is theirs). On one they were linked to once, only what falls within the periods they
-- were linked, as the audit trail of public.customer_accounts records them, and never another customer's entries:
-- the account's later activity, and the later holders' payments and bank details, are someone else's data.

drop function if exists internal.customer_all_accounts(uuid);

-- The customer's accounts, now and before, with the periods their link lasted: each recorded start (insert, or an
-- update that moved the row to this customer and account) paired with the end that follows it (delete, or an update
-- that moved it away); an end with no recorded start (a link older than the audit trail) starts at -infinity. A
-- current link is unbounded. `days` are the periods' days (Europe/London): from the day a link started to the day
-- it ended, exclusive, so the day of a change belongs to the next holder, as billing periods do.
create or replace function internal.customer_links(customer_id uuid)
returns table (account uuid, role text, current boolean, periods tstzmultirange, days datemultirange)
language sql stable
set search_path = ''
as $$
  with events as (
    select l.id, l.account, l.at, l.old_values ->> 'role' as role, l.new_values is not null as starts
      from internal.audit_log l
     where l.customer = customer_id and l.table_name = 'public.customer_accounts' and l.account is not null
       and (l.operation in ('INSERT', 'DELETE')
            or (l.operation = 'UPDATE' and (l.old_values is null or l.new_values is null)))
  ), spans as (
    select e.id, e.account, e.role, e.starts, e.at as ended_at,
           case when lag(e.starts) over w then lag(e.at) over w end as started_at
      from events e
    window w as (partition by e.account order by e.id)
  ), former as (
    select s.account, (array_agg(s.role order by s.id desc))[1] as role,
           range_agg(tstzrange(s.started_at, greatest(s.started_at, s.ended_at))) as periods
      from spans s
     where not s.starts
     group by s.account
  )
  select ca.account, ca.role, true, '{(,)}'::tstzmultirange, '{(,)}'::datemultirange
    from public.customer_accounts ca
   where ca.customer = customer_id
  union all
  select f.account, f.role, false, f.periods,
         (select coalesce(range_agg(daterange((lower(r) at time zone 'Europe/London')::date,
                                              (upper(r) at time zone 'Europe/London')::date)), '{}')
            from unnest(f.periods) r)
    from former f
   where not exists (select 1 from public.customer_accounts ca where ca.customer = customer_id and ca.account = f.account)
$$;
comment on function internal.customer_links(uuid) is
  'The customer''s accounts: current links (unbounded) and removed ones with the periods they lasted, from the audit trail of public.customer_accounts.';
revoke all on function internal.customer_links(uuid) from public;

-- The bank lines about the customer: matched to an account of theirs, and (on a former account) received and
-- recorded within their link periods. A matched line goes with its payment: received_at is the booking day's
-- midnight, so a transfer booked on the day of a change but recorded after it is the next holder's.
create or replace function internal.customer_bank_lines(customer_id uuid) returns table (id uuid, account uuid)
language sql stable
set search_path = ''
as $$
  select t.id, t.matched_account
    from internal.customer_links(customer_id) x
    join public.bank_transactions t on t.matched_account = x.account
    left join public.payments p on p.id = t.payment
   where x.periods @> coalesce(p.received_at, coalesce(t.booking_date, t.value_date)::timestamp at time zone 'Europe/London',
                               t.created_at)
     and x.periods @> coalesce(p.created_at, t.decided_at, t.created_at)
$$;
comment on function internal.customer_bank_lines(uuid) is
  'Bank lines about the customer: matched to a current account of theirs, or to a former one within their link periods.';
revoke all on function internal.customer_bank_lines(uuid) from public;

-- The audit entries about the customer: those naming them, and those of their accounts (on a former account, made
-- within their link periods and naming no other customer).
create or replace function internal.customer_audit_entries(customer_id uuid) returns setof bigint
language sql stable
set search_path = ''
as $$
  select l.id from internal.audit_log l where l.customer = customer_id
  union
  select l.id
    from internal.customer_links(customer_id) x
    join internal.audit_log l on l.account = x.account
   where x.periods @> l.at and (x.current or l.customer is null)
$$;
comment on function internal.customer_audit_entries(uuid) is
  'Ids of the audit entries about the customer: naming them, or about their accounts (former ones: within their link periods, naming no one else).';
revoke all on function internal.customer_audit_entries(uuid) from public;

-- Export ----------------------------------------------------------------------------------------------------

create or replace function public.customer_data_export(customer_id uuid) returns jsonb
language plpgsql stable security definer
set search_path = ''
as $$
declare
  c public.customers;
  lines uuid[];
begin
  select * into c from public.customers x where x.id = customer_id;
  if not found or not internal.data_protection_can(c.id, c.esco, false) then
    raise exception 'customer not found' using errcode = 'PT404',
      hint = 'Customers export their own data; operators the data of their ESCOs'' customers.';
  end if;
  lines := array(select b.id from internal.customer_bank_lines(c.id) b);

  return jsonb_build_object(
    'exported_at', now(),
    'customer', to_jsonb(c),
    'esco', (select jsonb_build_object('code', e.code, 'name', e.name) from flows.escos e where e.id = c.esco),
    'notification_preferences', (select to_jsonb(p) - 'esco' from public.notification_preferences p where p.customer = c.id),
    'customer_tariffs', (select coalesce(jsonb_agg(to_jsonb(t) - 'esco' order by t.effective_from), '[]')
                           from public.customer_tariffs t where t.customer = c.id),
    -- On a former account (x.current false), only what falls within their link periods: moments in x.periods,
    -- supplies and billing periods overlapping x.days (both unbounded for a current account).
    'accounts', (
      select coalesce(jsonb_agg(to_jsonb(a) - 'esco' || jsonb_build_object(
        'role', x.role,
        'linked_now', x.current,
        'linked_periods', case when not x.current then (
          select coalesce(jsonb_agg(jsonb_build_object('from', lower(r), 'to', upper(r)) order by r), '[]')
            from unnest(x.periods) r) end,
        'supplies', (
          select coalesce(jsonb_agg(jsonb_build_object(
            'start_date', s.start_date, 'end_date', s.end_date,
            'property', jsonb_build_object('plot', p.plot, 'address', p.address, 'type', p.type),
            'meters', (select coalesce(jsonb_agg(distinct m.serial), '[]')
                         from flows.property_meters pm
                         join flows.meter_registry m on m.id = pm.meter
                        where pm.property = s.property)) order by s.start_date), '[]')
            from public.account_supplies s join flows.properties p on p.id = s.property
           where s.account = a.id and x.days && daterange(s.start_date, s.end_date)),
        'invoices', (
          select coalesce(jsonb_agg(to_jsonb(i) - 'esco' || jsonb_build_object(
            'lines', (select coalesce(jsonb_agg(to_jsonb(l) - 'esco' - 'invoice' - 'inputs' order by l.position), '[]')
                        from public.invoice_lines l where l.invoice = i.id)) order by i.period_start, i.created_at), '[]')
            from public.invoices i
           where i.account = a.id and i.status <> 'draft' and x.days && daterange(i.period_start, i.period_end)),
        -- an invoice's entry goes with the invoice, a payment's with the payment (both times: see customer_bank_lines)
        'ledger_entries', (
          select coalesce(jsonb_agg(to_jsonb(l) - 'esco' order by l.at), '[]')
            from public.ledger_entries l
            left join public.invoices i on i.id = l.invoice
            left join public.payments p on p.ledger_entry = l.id
           where l.account = a.id
             and case when i.id is not null then x.days && daterange(i.period_start, i.period_end)
                      else x.periods @> l.at and x.periods @> coalesce(p.created_at, l.at) end),
        'payments', (select coalesce(jsonb_agg(to_jsonb(p) - 'esco' order by p.received_at), '[]')
                       from public.payments p
                      where p.account = a.id and x.periods @> p.received_at and x.periods @> p.created_at),
        'refunds', (select coalesce(jsonb_agg(to_jsonb(r) - 'esco' order by r.requested_at), '[]')
                      from public.refunds r where r.account = a.id and x.periods @> r.requested_at),
        'topups', (select coalesce(jsonb_agg(to_jsonb(t) - 'esco' order by t.requested_at), '[]')
                     from public.topups t where t.account = a.id and x.periods @> t.requested_at),
        'payment_reminders', (select coalesce(jsonb_agg(to_jsonb(r) - 'esco' order by r.created_at), '[]')
                                from public.payment_reminders r join public.invoices i on i.id = r.invoice
                               where r.account = a.id and x.days && daterange(i.period_start, i.period_end)),
        'bank_transactions', (
          select coalesce(jsonb_agg(jsonb_build_object(
            'booking_date', t.booking_date, 'amount', t.amount, 'currency', t.currency,
            'counterparty_name', t.counterparty_name, 'counterparty_account', t.counterparty_account,
            'remittance_information', t.remittance_information, 'payment', t.payment) order by t.booking_date), '[]')
            from public.bank_transactions t where t.matched_account = a.id and t.id = any (lines))
      ) order by a.account_number), '[]')
        from public.accounts a join internal.customer_links(c.id) x on x.account = a.id),
    'notifications', (
      select coalesce(jsonb_agg(jsonb_build_object(
        'id', n.id, 'channel', n.channel, 'address', n.address, 'template', n.template, 'payload', n.payload,
        'status', n.status, 'created_at', n.created_at, 'sent_at', n.sent_at) order by n.created_at), '[]')
        from public.notifications n where n.customer = c.id),
    -- Changes to their data: what changed, when, and by which kind of user (not who: that is others' data).
    'audit_log', (
      select coalesce(jsonb_agg(jsonb_build_object(
        'at', l.at, 'by_role', l.db_role, 'table', l.table_name, 'operation', l.operation, 'key', l.row_key,
        'old_values', l.old_values, 'new_values', l.new_values) order by l.id), '[]')
        from internal.audit_log l
       where l.id in (select internal.customer_audit_entries(c.id)))
  );
end
$$;
comment on function public.customer_data_export(uuid) is $$Everything Flows holds about a customer, as one JSON document (subject access request).
The customer themself or an operator of their ESCO; anyone else gets "customer not found" (PT404). Contains the
customer record (contact details and consents), preferences, tariffs, accounts with supplies (property, meter
serials), issued invoices with lines, ledger, payments, refunds, top-ups, reminders, matched bank lines,
notifications, and the audit entries about them. For an account they are no longer linked to, only what falls within
the periods they were linked, and no other customer's data.$$;
revoke all on function public.customer_data_export(uuid) from public;
grant execute on function public.customer_data_export(uuid) to customer, operator;

-- Erasure ---------------------------------------------------------------------------------------------------

-- Replaces the values of personal keys with "[erased]" in an audit entry's old or new values.
create or replace function internal.audit_redacted(entry_values jsonb) returns jsonb
language sql immutable
set search_path = ''
as $$
  select case when entry_values is null then null else
    coalesce((select jsonb_object_agg(e.key,
                       case when e.key = any (array['name', 'email', 'phone', 'contact_preferences', 'auth_subject',
                                                    'vulnerable', 'priority_services', 'address', 'payload',
                                                    'last_error', 'counterparty_name', 'counterparty_account'])
                                 and e.value <> 'null'::jsonb
                            then '"[erased]"'::jsonb else e.value end)
                from jsonb_each(entry_values) e), '{}') end
$$;
comment on function internal.audit_redacted(jsonb) is
  'An audit entry''s values with every personal key (name, email, phone, address, payload, counterparty…) replaced by "[erased]".';
revoke all on function internal.audit_redacted(jsonb) from public;

-- The one path that changes audit entries: it holds the column privilege for this statement only, and the
-- append-only trigger lets an update through only from this function and only if it changes nothing but values.
create or replace function internal.audit_redact_customer(customer_id uuid) returns integer
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  redacted integer;
begin
  grant update (old_values, new_values) on internal.audit_log to flows_owner;
  -- the entries the export shows, and every entry of their bank lines (imported before they were matched)
  update internal.audit_log l
     set old_values = internal.audit_redacted(l.old_values), new_values = internal.audit_redacted(l.new_values)
   where (l.id in (select internal.customer_audit_entries(customer_id))
          or (l.table_name = 'public.bank_transactions'
              and l.row_key in (select jsonb_build_object('id', b.id) from internal.customer_bank_lines(customer_id) b)))
     and (l.old_values is distinct from internal.audit_redacted(l.old_values)
          or l.new_values is distinct from internal.audit_redacted(l.new_values));
  get diagnostics redacted = row_count;
  revoke update (old_values, new_values) on internal.audit_log from flows_owner;
  return redacted;
end
$$;
comment on function internal.audit_redact_customer(uuid) is
  'Redacts the personal values of the audit entries about the customer (customer_audit_entries, and every entry of their bank lines); called only by public.customer_erase.';
revoke all on function internal.audit_redact_customer(uuid) from public;

create or replace function public.customer_erase(customer_id uuid) returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  c public.customers;
  accs uuid[];
  blocker record;
  pseudonym text := 'Erased customer ' || left(customer_id::text, 8);
  customer_changed integer;
  notifications_changed integer;
  bank_lines_changed integer;
  audit_redacted integer;
  summary jsonb;
begin
  select * into c from public.customers x where x.id = customer_id for update;
  if not found or not internal.data_protection_can(c.id, c.esco, true) then
    raise exception 'customer not found' using errcode = 'PT404',
      hint = 'Operators erase customers of their own ESCOs.';
  end if;
  -- every account they hold or held (the checks below are about the accounts, whoever holds them now)
  accs := array(select x.account from internal.customer_links(c.id) x order by x.account);

  -- Refuse while a bill is owed or still to come.
  select a.account_number, b.balance into blocker
    from public.accounts a
    join (select l.account, sum(l.amount) as balance from public.ledger_entries l
           where l.account = any (accs) group by l.account) b on b.account = a.id
   where b.balance <> 0
   order by a.account_number limit 1;
  if found then
    raise exception 'account % has a balance of %', blocker.account_number, blocker.balance
      using errcode = 'PT409', hint = 'Settle the balance (payment, refund or adjustment) before erasing the customer.';
  end if;
  select a.account_number, count(*) as n into blocker
    from public.invoices i join public.accounts a on a.id = i.account
   where i.account = any (accs) and (i.status in ('draft', 'issued', 'partially_paid') or i.disputed)
   group by a.account_number order by a.account_number limit 1;
  if found then
    raise exception 'account % has % open invoice(s)', blocker.account_number, blocker.n
      using errcode = 'PT409', hint = 'Issue, settle or void open invoices and resolve disputes before erasing the customer.';
  end if;
  select a.account_number into blocker
    from public.account_supplies s join public.accounts a on a.id = s.account
   where s.account = any (accs) and (s.end_date is null or s.end_date > (now() at time zone 'Europe/London')::date)
   order by a.account_number limit 1;
  if found then
    raise exception 'account % still supplies a property', blocker.account_number
      using errcode = 'PT409', hint = 'End the supply and issue the final bill before erasing the customer.';
  end if;

  update public.customers x
     set name = pseudonym, email = null, phone = null, contact_preferences = '{}', auth_subject = null,
         vulnerable = false, priority_services = false
   where x.id = c.id
     and (x.name, x.email, x.phone, x.contact_preferences, x.auth_subject, x.vulnerable, x.priority_services)
         is distinct from (pseudonym, null::text, null::text, '{}'::jsonb, null::text, false, false);
  get diagnostics customer_changed = row_count;

  update public.notifications n
     set address = 'erased', payload = '{}', last_error = null,
         status = case when n.status in ('queued', 'sending') then 'suppressed' else n.status end
   where n.customer = c.id
     and (n.address <> 'erased' or n.payload <> '{}' or n.last_error is not null or n.status in ('queued', 'sending'));
  get diagnostics notifications_changed = row_count;

  update public.bank_transactions t set counterparty_name = 'erased', counterparty_account = null
   where t.id in (select b.id from internal.customer_bank_lines(c.id) b)
     and (t.counterparty_name is distinct from 'erased' or t.counterparty_account is not null);
  get diagnostics bank_lines_changed = row_count;

  -- Last, so that it also redacts the entries the updates above just wrote.
  audit_redacted := internal.audit_redact_customer(c.id);

  summary := jsonb_build_object('customer', c.id, 'accounts', to_jsonb(accs), 'customer_record', customer_changed,
                                'notifications', notifications_changed, 'bank_transactions', bank_lines_changed,
                                'audit_entries_redacted', audit_redacted);
  if customer_changed + notifications_changed + bank_lines_changed + audit_redacted = 0 then
    return summary || jsonb_build_object('already_erased', true);
  end if;
  insert into internal.audit_log (db_role, subject, request_id, table_name, operation, row_key, customer, new_values)
  values (coalesce(nullif(current_setting('role', true), 'none'), session_user::text), internal.jwt_sub(),
          internal.audit_request_id(), 'public.customers', 'ERASE', jsonb_build_object('id', c.id), c.id, summary);
  return summary || jsonb_build_object('already_erased', false);
end
$$;
comment on function public.customer_erase(uuid) is $$Erases a customer by pseudonymisation (operator of their ESCO): name, email, phone,
consents, login and vulnerability flags; their notifications' addresses and contents; the payer details of bank lines
matched to their accounts (former accounts: within their link periods only); and the same personal values inside
the audit entries about them (never another holder's). Keeps every financial record
(accounts, invoices, ledger, payments). Refuses (PT409) while an account has a balance, an open or disputed
invoice, or a supply that has not ended. Leaves an ERASE entry in the audit trail. Idempotent.$$;
revoke all on function public.customer_erase(uuid) from public;
grant execute on function public.customer_erase(uuid) to operator;
