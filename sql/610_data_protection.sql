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

-- The accounts a customer holds or held (links deleted since are found in the audit trail).
create or replace function internal.customer_all_accounts(customer_id uuid) returns uuid[]
language sql stable
set search_path = ''
as $$
  select coalesce(array_agg(distinct x.account), '{}')
    from (select ca.account from public.customer_accounts ca where ca.customer = customer_id
          union
          select l.account from internal.audit_log l
           where l.customer = customer_id and l.table_name = 'public.customer_accounts' and l.account is not null) x
$$;
comment on function internal.customer_all_accounts(uuid) is
  'Accounts the customer holds or held (customer_accounts, and links recorded in the audit trail since removed).';
revoke all on function internal.customer_all_accounts(uuid) from public;

-- Export ----------------------------------------------------------------------------------------------------

create or replace function public.customer_data_export(customer_id uuid) returns jsonb
language plpgsql stable security definer
set search_path = ''
as $$
declare
  c public.customers;
  accs uuid[];
begin
  select * into c from public.customers x where x.id = customer_id;
  if not found or not internal.data_protection_can(c.id, c.esco, false) then
    raise exception 'customer not found' using errcode = 'PT404',
      hint = 'Customers export their own data; operators the data of their ESCOs'' customers.';
  end if;
  accs := internal.customer_all_accounts(c.id);

  return jsonb_build_object(
    'exported_at', now(),
    'customer', to_jsonb(c),
    'esco', (select jsonb_build_object('code', e.code, 'name', e.name) from flows.escos e where e.id = c.esco),
    'notification_preferences', (select to_jsonb(p) - 'esco' from public.notification_preferences p where p.customer = c.id),
    'customer_tariffs', (select coalesce(jsonb_agg(to_jsonb(t) - 'esco' order by t.effective_from), '[]')
                           from public.customer_tariffs t where t.customer = c.id),
    'accounts', (
      select coalesce(jsonb_agg(to_jsonb(a) - 'esco' || jsonb_build_object(
        'role', (select ca.role from public.customer_accounts ca where ca.customer = c.id and ca.account = a.id),
        'supplies', (
          select coalesce(jsonb_agg(jsonb_build_object(
            'start_date', s.start_date, 'end_date', s.end_date,
            'property', jsonb_build_object('plot', p.plot, 'address', p.address, 'type', p.type),
            'meters', (select coalesce(jsonb_agg(distinct m.serial), '[]')
                         from flows.property_meters pm
                         join flows.meter_registry m on m.id = pm.meter
                        where pm.property = s.property)) order by s.start_date), '[]')
            from public.account_supplies s join flows.properties p on p.id = s.property
           where s.account = a.id),
        'invoices', (
          select coalesce(jsonb_agg(to_jsonb(i) - 'esco' || jsonb_build_object(
            'lines', (select coalesce(jsonb_agg(to_jsonb(l) - 'esco' - 'invoice' - 'inputs' order by l.position), '[]')
                        from public.invoice_lines l where l.invoice = i.id)) order by i.period_start, i.created_at), '[]')
            from public.invoices i where i.account = a.id and i.status <> 'draft'),
        'ledger_entries', (select coalesce(jsonb_agg(to_jsonb(l) - 'esco' order by l.at), '[]')
                             from public.ledger_entries l where l.account = a.id),
        'payments', (select coalesce(jsonb_agg(to_jsonb(p) - 'esco' order by p.received_at), '[]')
                       from public.payments p where p.account = a.id),
        'refunds', (select coalesce(jsonb_agg(to_jsonb(r) - 'esco' order by r.requested_at), '[]')
                      from public.refunds r where r.account = a.id),
        'topups', (select coalesce(jsonb_agg(to_jsonb(t) - 'esco' order by t.requested_at), '[]')
                     from public.topups t where t.account = a.id),
        'payment_reminders', (select coalesce(jsonb_agg(to_jsonb(r) - 'esco' order by r.created_at), '[]')
                                from public.payment_reminders r where r.account = a.id),
        'bank_transactions', (
          select coalesce(jsonb_agg(jsonb_build_object(
            'booking_date', t.booking_date, 'amount', t.amount, 'currency', t.currency,
            'counterparty_name', t.counterparty_name, 'counterparty_account', t.counterparty_account,
            'remittance_information', t.remittance_information, 'payment', t.payment) order by t.booking_date), '[]')
            from public.bank_transactions t where t.matched_account = a.id)
      ) order by a.account_number), '[]')
        from public.accounts a where a.id = any (accs)),
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
       where l.customer = c.id or l.account = any (accs))
  );
end
$$;
comment on function public.customer_data_export(uuid) is $$Everything Flows holds about a customer, as one JSON document (subject access request).
The customer themself or an operator of their ESCO; anyone else gets "customer not found" (PT404). Contains the
customer record (contact details and consents), preferences, tariffs, accounts with supplies (property, meter
serials), issued invoices with lines, ledger, payments, refunds, top-ups, reminders, matched bank lines,
notifications, and the audit entries about them.$$;
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
  accs uuid[] := internal.customer_all_accounts(customer_id);
  redacted integer;
begin
  grant update (old_values, new_values) on internal.audit_log to flows_owner;
  update internal.audit_log l
     set old_values = internal.audit_redacted(l.old_values), new_values = internal.audit_redacted(l.new_values)
   where (l.customer = customer_id or l.account = any (accs)
          or (l.table_name = 'public.bank_transactions'
              and l.row_key in (select jsonb_build_object('id', t.id) from public.bank_transactions t
                                 where t.matched_account = any (accs))))
     and (l.old_values is distinct from internal.audit_redacted(l.old_values)
          or l.new_values is distinct from internal.audit_redacted(l.new_values));
  get diagnostics redacted = row_count;
  revoke update (old_values, new_values) on internal.audit_log from flows_owner;
  return redacted;
end
$$;
comment on function internal.audit_redact_customer(uuid) is
  'Redacts the personal values of every audit entry about the customer or their accounts; called only by public.customer_erase.';
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
  accs := internal.customer_all_accounts(c.id);

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
   where t.matched_account = any (accs)
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
matched to their accounts; and the same personal values inside the audit trail. Keeps every financial record
(accounts, invoices, ledger, payments). Refuses (PT409) while an account has a balance, an open or disputed
invoice, or a supply that has not ended. Leaves an ERASE entry in the audit trail. Idempotent.$$;
revoke all on function public.customer_erase(uuid) from public;
grant execute on function public.customer_erase(uuid) to operator;
