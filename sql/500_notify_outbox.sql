-- Notifications, part 1: the outbox, preferences and operator alert subscriptions (grants, row-level
-- security, comments) and the enqueue functions every event calls in the transaction of its change
-- (docs/notifications.md). Sending is the worker's: jobs/notify__email.ts and jobs/notify__sms.ts.

-- public.notifications ----------------------------------------------------------------------------------

grant select on public.notifications to customer, operator, worker;
grant update (status, attempts, next_attempt_at, provider_message_id, last_error, sent_at, updated_at)
  on public.notifications to worker;

create policy select_as_customer on public.notifications for select to customer
  using (customer = (select internal.my_customer_id()));
create policy select_as_operator on public.notifications for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_worker on public.notifications for select to worker using (true);
create policy update_as_worker on public.notifications for update to worker using (true) with check (true);

comment on table public.notifications is $$The outbox: one message to one recipient on one channel, from a template.
Rows are written by events in the transaction of the change that causes them (never by clients) and sent by the
notify__email / notify__sms jobs, at most once each (dedupe_key is unique; provider_message_id records the send).$$;
comment on column public.notifications.id is 'Message id (also the email Message-ID''s local part).';
comment on column public.notifications.esco is 'The ESCO the message is sent for.';
comment on column public.notifications.customer is 'The customer it is for (null for operator alerts).';
comment on column public.notifications.subscription is 'The operator alert subscription it is for (null for customer messages).';
comment on column public.notifications.channel is 'email or sms.';
comment on column public.notifications.address is 'Email address or E.164 phone number it is sent to (a snapshot).';
comment on column public.notifications.template is 'Template (event kind), e.g. topup_completed; see docs/notifications.md.';
comment on column public.notifications.payload is 'The values the template renders (amounts as decimal strings).';
comment on column public.notifications.dedupe_key is 'Unique key of the event and recipient: the same event enqueued twice is one message.';
comment on column public.notifications.priority is 'Lower goes first: 0 vulnerable customers, 5 operators, 10 other customers.';
comment on column public.notifications.status is 'queued, sending, sent, failed (permanently, or out of attempts) or suppressed (opted out, or the channel is not configured outside production).';
comment on column public.notifications.attempts is 'Send attempts so far.';
comment on column public.notifications.next_attempt_at is 'Not sent before this moment (backoff, quiet hours, rate limit).';
comment on column public.notifications.provider_message_id is 'The provider''s id of the sent message (SMTP Message-ID or Twilio SID).';
comment on column public.notifications.last_error is 'The last error or suppression reason (no personal data).';
comment on column public.notifications.created_at is 'When the event enqueued it.';
comment on column public.notifications.updated_at is 'Last change of status.';
comment on column public.notifications.sent_at is 'When the provider accepted it; set exactly when status is sent.';

-- public.notification_preferences -----------------------------------------------------------------------

grant select on public.notification_preferences to customer, operator, worker;
-- Every customer has exactly one row (created with the customer, by trigger): nobody inserts or deletes one.
grant update (email_kinds, sms_kinds, quiet_hours_start, quiet_hours_end, low_balance_threshold_gbp)
  on public.notification_preferences to customer, operator;

create policy select_as_customer on public.notification_preferences for select to customer
  using (customer = (select internal.my_customer_id()));
create policy update_as_customer on public.notification_preferences for update to customer
  using (customer = (select internal.my_customer_id()))
  with check (customer = (select internal.my_customer_id()));
create policy select_as_operator on public.notification_preferences for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy update_as_operator on public.notification_preferences for update to operator
  using (esco = any ((select internal.operator_escos())::uuid[]))
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_worker on public.notification_preferences for select to worker using (true);

comment on table public.notification_preferences is $$A customer's notification preferences: which kinds on which channel, SMS quiet hours,
the low-balance threshold. One row per customer, created with the customer (defaults: every kind by email; payment
overdue, low balance, off supply and failed top-ups by SMS). Removing a kind from a channel is an opt-out.$$;
comment on column public.notification_preferences.customer is 'The customer (public.customers.id).';
comment on column public.notification_preferences.esco is 'The customer''s ESCO.';
comment on column public.notification_preferences.email_kinds is 'Kinds sent by email (templates: invoice_issued, payment_received, payment_overdue, low_balance, off_supply, topup_completed, topup_failed, tariff_change).';
comment on column public.notification_preferences.sms_kinds is 'Kinds sent by SMS (same names).';
comment on column public.notification_preferences.quiet_hours_start is 'Start of SMS quiet hours, Europe/London (null = none). An SMS due inside them waits; off_supply does not.';
comment on column public.notification_preferences.quiet_hours_end is 'End of SMS quiet hours, Europe/London (exclusive).';
comment on column public.notification_preferences.low_balance_threshold_gbp is 'A prepay balance below this (£) sends low_balance, at most once a day per meter.';
comment on column public.notification_preferences.updated_at is 'Last change (maintained by trigger).';

-- public.operator_alert_subscriptions --------------------------------------------------------------------

grant select on public.operator_alert_subscriptions to operator, worker;
grant insert (esco, operator, kinds, channel, address, active) on public.operator_alert_subscriptions to operator;
grant update (operator, kinds, channel, address, active) on public.operator_alert_subscriptions to operator;
grant delete on public.operator_alert_subscriptions to operator;

create policy select_as_operator on public.operator_alert_subscriptions for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy insert_as_operator on public.operator_alert_subscriptions for insert to operator
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy update_as_operator on public.operator_alert_subscriptions for update to operator
  using (esco = any ((select internal.operator_escos())::uuid[]))
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy delete_as_operator on public.operator_alert_subscriptions for delete to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_worker on public.operator_alert_subscriptions for select to worker using (true);

comment on table public.operator_alert_subscriptions is 'Where an ESCO''s operator alerts go: kinds (off_supply, meter_offline, meter_recovered…), channel and address.';
comment on column public.operator_alert_subscriptions.id is 'Subscription id.';
comment on column public.operator_alert_subscriptions.esco is 'The ESCO whose alerts these are.';
comment on column public.operator_alert_subscriptions.operator is 'The operator it belongs to, if any (a shared mailbox has none).';
comment on column public.operator_alert_subscriptions.kinds is 'Alert kinds (templates) sent to it.';
comment on column public.operator_alert_subscriptions.channel is 'email or sms.';
comment on column public.operator_alert_subscriptions.address is 'Email address, or E.164 phone number for sms.';
comment on column public.operator_alert_subscriptions.active is 'false pauses it.';
comment on column public.operator_alert_subscriptions.created_at is 'When it was added.';

create or replace function internal.tg_customers__notification_preferences() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  insert into public.notification_preferences (customer, esco) values (new.id, new.esco) on conflict do nothing;
  return null;
end
$$;
comment on function internal.tg_customers__notification_preferences() is
  'Trigger: gives every new customer their notification preferences row (the defaults).';
revoke all on function internal.tg_customers__notification_preferences() from public;

drop trigger if exists _500_notification_preferences on public.customers;
create trigger _500_notification_preferences after insert on public.customers
  for each row execute function internal.tg_customers__notification_preferences();

drop trigger if exists _100_touch on public.notification_preferences;
create trigger _100_touch before update on public.notification_preferences
  for each row execute function internal.tg_touch_updated_at();

-- The kinds a customer can be sent (their texts: src/notify/templates.ts). A preference naming another is
-- refused: a misspelt kind would otherwise silently opt the customer out of the one they meant.
create or replace function internal.tg_notification_preferences__known_kinds() returns trigger
language plpgsql volatile
set search_path = ''
as $$
declare
  known constant text[] := array['invoice_issued', 'payment_received', 'payment_overdue', 'low_balance', 'off_supply',
                                 'topup_completed', 'topup_failed', 'tariff_change'];
  unknown text;
begin
  select string_agg(distinct coalesce(k, 'null'), ', ' order by coalesce(k, 'null')) into unknown
    from unnest(new.email_kinds || new.sms_kinds) k
   where k is null or k <> all (known);
  if unknown is not null then
    raise exception 'unknown notification kind: %', unknown
      using errcode = '22023', hint = 'Known kinds: ' || array_to_string(known, ', ') || '.';
  end if;
  return new;
end
$$;
comment on function internal.tg_notification_preferences__known_kinds() is
  'Trigger: refuses email_kinds or sms_kinds naming a kind customers are never sent (22023, the known kinds in the hint).';
revoke all on function internal.tg_notification_preferences__known_kinds() from public;

drop trigger if exists _100_known_kinds on public.notification_preferences;
create trigger _100_known_kinds before insert or update of email_kinds, sms_kinds on public.notification_preferences
  for each row execute function internal.tg_notification_preferences__known_kinds();

-- internal bookkeeping ----------------------------------------------------------------------------------

comment on table internal.notify_provider_slots is 'Per-provider rate limit: the next moment a message may go out (shared by all workers).';
grant select, update on internal.notify_provider_slots to worker;
create policy select_as_worker on internal.notify_provider_slots for select to worker using (true);
create policy update_as_worker on internal.notify_provider_slots for update to worker using (true) with check (true);

comment on table internal.notify_meter_offline is 'Meters reported offline to operators and not yet reported recovered.';

-- Enqueue ----------------------------------------------------------------------------------------------

-- SMS quiet hours: when an SMS due at `at` may go out for these preferences (Europe/London wall clock).
create or replace function internal.notify_quiet_until(quiet_start time, quiet_end time, at timestamptz)
returns timestamptz
language plpgsql immutable
set search_path = ''
as $$
declare
  local timestamp := at at time zone 'Europe/London';
  t time := local::time;
begin
  if quiet_start is null or quiet_end is null then
    return at;
  elsif quiet_start < quiet_end then
    if t >= quiet_start and t < quiet_end then
      return (local::date + quiet_end) at time zone 'Europe/London';
    end if;
  elsif t >= quiet_start then
    return (local::date + 1 + quiet_end) at time zone 'Europe/London';
  elsif t < quiet_end then
    return (local::date + quiet_end) at time zone 'Europe/London';
  end if;
  return at;
end
$$;
comment on function internal.notify_quiet_until(time, time, timestamptz) is
  'When an SMS due at `at` may go out given quiet hours [start, end) in Europe/London (overnight ranges allowed).';
revoke all on function internal.notify_quiet_until(time, time, timestamptz) from public;

-- Outbox rows and their jobs, in two statements whatever their number. `messages` is a JSON array of
-- {esco, customer, subscription, channel, address, template, payload, dedupe_key, priority, not_before,
-- suppressed_because}; a dedupe_key already in the outbox (or repeated in the array) is a no-op. Returns the rows
-- added, and whether each was queued (not suppressed).
create or replace function internal.notify_enqueue_many(messages jsonb)
returns table (id uuid, dedupe_key text, queued boolean)
language plpgsql volatile security definer
set search_path = ''
set jit = off  -- as internal.tg_audit: bulk statements over arrays and fresh rows without statistics
as $$
declare
  ids uuid[];
  keys text[];
  queued_flags boolean[];
  specs graphile_worker.job_spec[];
begin
  with inserted as (
    insert into public.notifications as n (esco, customer, subscription, channel, address, template, payload,
                                           dedupe_key, priority, next_attempt_at, status, last_error)
    select m.esco, m.customer, m.subscription, m.channel, m.address, m.template, coalesce(m.payload, '{}'),
           m.dedupe_key, coalesce(m.priority, 10), coalesce(m.not_before, now()),
           case when m.suppressed_because is null then 'queued' else 'suppressed' end, m.suppressed_because
      from jsonb_to_recordset(coalesce(messages, '[]')) as m(esco uuid, customer uuid, subscription uuid, channel text,
             address text, template text, payload jsonb, dedupe_key text, priority smallint, not_before timestamptz,
             suppressed_because text)
    on conflict on constraint notifications_dedupe_key_key do nothing
    returning n.id, n.dedupe_key, n.status = 'queued' as queued, n.channel, n.next_attempt_at, n.priority
  )
  select array_agg(i.id), array_agg(i.dedupe_key), array_agg(i.queued),
         array_agg(row('notify__' || i.channel, json_build_object('id', i.id), null, i.next_attempt_at, null,
                       'notify:' || i.id, i.priority, null)::graphile_worker.job_spec) filter (where i.queued)
    into ids, keys, queued_flags, specs
    from inserted i;
  if specs is not null then
    perform graphile_worker.add_jobs(specs);
  end if;
  return query select * from unnest(ids, keys, queued_flags);
end
$$;
comment on function internal.notify_enqueue_many(jsonb) is
  'Adds messages to the outbox with their notify__<channel> jobs, in the caller''s transaction; a repeated dedupe_key is a no-op. Returns the rows added.';
revoke all on function internal.notify_enqueue_many(jsonb) from public;

-- One outbox row and its job. The same dedupe_key again is a no-op (returns null).
create or replace function internal.notify_enqueue(
  esco uuid, customer uuid, subscription uuid, channel text, address text, template text, payload jsonb,
  dedupe_key text, priority smallint default 10, not_before timestamptz default now(), suppressed_because text default null
)
returns uuid
language sql volatile security definer
set search_path = ''
as $$
  select e.id
    from internal.notify_enqueue_many(pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
           'esco', esco, 'customer', customer, 'subscription', subscription, 'channel', channel, 'address', address,
           'template', template, 'payload', payload, 'dedupe_key', dedupe_key, 'priority', priority,
           'not_before', not_before, 'suppressed_because', suppressed_because))) e
$$;
comment on function internal.notify_enqueue(uuid, uuid, uuid, text, text, text, jsonb, text, smallint, timestamptz, text) is
  'Adds one message to the outbox and its notify__<channel> job, in the caller''s transaction; a repeated dedupe_key is a no-op.';
revoke all on function internal.notify_enqueue(uuid, uuid, uuid, text, text, text, jsonb, text, smallint, timestamptz, text)
  from public;
grant execute on function internal.notify_enqueue(uuid, uuid, uuid, text, text, text, jsonb, text, smallint, timestamptz, text)
  to worker;

-- Customer messages, set-based: for each (customer, payload, dedupe base), a message on each channel the customer
-- has an address for; a channel their preferences opt out of is recorded as suppressed, so "who was told what" stays
-- answerable. Quiet hours delay SMS, except off_supply; vulnerable and priority-services customers go first; closed
-- customers get nothing. Returns how many messages were queued.
create or replace function internal.notify_customers(template text, customer_ids uuid[], payloads jsonb[],
                                                     dedupe_bases text[])
returns integer
language sql volatile security definer
set search_path = ''
set jit = off  -- as internal.tg_audit: bulk statements over arrays and fresh rows without statistics
as $$
  with wanted as (
    select cu.id, cu.esco, cu.email, cu.phone, w.n, w.dedupe_base,
           case when cu.vulnerable or cu.priority_services then 0 else 10 end as priority,
           pg_catalog.jsonb_build_object('name', cu.name, 'esco_name', e.name) || coalesce(w.payload, '{}') as payload,
           template = any (coalesce(np.email_kinds, array['invoice_issued', 'payment_received', 'payment_overdue',
             'low_balance', 'off_supply', 'topup_completed', 'topup_failed', 'tariff_change'])) as email_wanted,
           template = any (coalesce(np.sms_kinds, array['payment_overdue', 'low_balance', 'off_supply',
             'topup_failed'])) as sms_wanted,
           np.quiet_hours_start, np.quiet_hours_end
      from unnest(customer_ids, payloads, dedupe_bases) with ordinality as w(customer, payload, dedupe_base, n)
      join public.customers cu on cu.id = w.customer
      join flows.escos e on e.id = cu.esco
      left join public.notification_preferences np on np.customer = cu.id
     where cu.status is distinct from 'closed'
  ), messages as (
    select w.n, 1 as channel_order, w.esco, w.id as customer, 'email' as channel, w.email as address, w.payload,
           w.dedupe_base || ':email:' || w.id as dedupe_key, w.priority, now() as not_before,
           case when w.email_wanted then null else 'opted out' end as suppressed_because
      from wanted w where w.email is not null
    union all
    select w.n, 2, w.esco, w.id, 'sms', w.phone, w.payload, w.dedupe_base || ':sms:' || w.id, w.priority,
           case when template = 'off_supply' then now()
                else internal.notify_quiet_until(w.quiet_hours_start, w.quiet_hours_end, now()) end,
           case when w.sms_wanted then null else 'opted out' end
      from wanted w where w.phone is not null
  )
  select count(*)::integer
    from internal.notify_enqueue_many((
           select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                    'esco', m.esco, 'customer', m.customer, 'channel', m.channel, 'address', m.address,
                    'template', template, 'payload', m.payload, 'dedupe_key', m.dedupe_key, 'priority', m.priority,
                    'not_before', m.not_before, 'suppressed_because', m.suppressed_because)
                  order by m.n, m.channel_order)
             from messages m)) e
   where e.queued
$$;
comment on function internal.notify_customers(text, uuid[], jsonb[], text[]) is
  'Queues customer messages in bulk: one per customer and channel they have an address for (opted-out channels recorded as suppressed); returns how many were queued.';
revoke all on function internal.notify_customers(text, uuid[], jsonb[], text[]) from public;
grant execute on function internal.notify_customers(text, uuid[], jsonb[], text[]) to worker;

-- Account events, set-based: for each (account, payload, dedupe base), internal.notify_customers for the account's
-- holders and payers (occupants are not told). Returns how many messages were queued.
create or replace function internal.notify_account_holders(template text, account_ids uuid[], payloads jsonb[],
                                                           dedupe_bases text[])
returns integer
language sql volatile security definer
set search_path = ''
as $$
  select internal.notify_customers(template, array_agg(ca.customer order by e.n, ca.customer),
           array_agg(e.payload order by e.n, ca.customer), array_agg(e.dedupe_base order by e.n, ca.customer))
    from unnest(account_ids, payloads, dedupe_bases) with ordinality as e(account, payload, dedupe_base, n)
    join public.customer_accounts ca on ca.account = e.account and ca.role in ('holder', 'payer')
$$;
comment on function internal.notify_account_holders(text, uuid[], jsonb[], text[]) is
  'Queues account messages in bulk: each event to its account''s holders and payers, through notify_customers; returns how many were queued.';
revoke all on function internal.notify_account_holders(text, uuid[], jsonb[], text[]) from public;

-- One customer message (internal.notify_customers for one customer).
create or replace function internal.notify_customer(customer_id uuid, template text, payload jsonb, dedupe_base text)
returns integer
language sql volatile security definer
set search_path = ''
as $$
  select internal.notify_customers(template, array[customer_id], array[payload], array[dedupe_base])
$$;
comment on function internal.notify_customer(uuid, text, jsonb, text) is
  'Queues a customer message on each channel their preferences allow (quiet hours delay SMS, except off_supply); vulnerable customers first.';
revoke all on function internal.notify_customer(uuid, text, jsonb, text) from public;
grant execute on function internal.notify_customer(uuid, text, jsonb, text) to worker;

-- An alert to every active subscription of the ESCO that takes this kind. Returns how many were queued.
create or replace function internal.notify_operators(esco_id uuid, template text, payload jsonb, dedupe_base text)
returns integer
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  s record;
  queued integer := 0;
  esco_name text := (select e.name from flows.escos e where e.id = esco_id);
begin
  for s in select o.id, o.channel, o.address from public.operator_alert_subscriptions o
            where o.esco = esco_id and o.active and template = any (o.kinds)
            order by o.id
  loop
    if internal.notify_enqueue(esco_id, null, s.id, s.channel, s.address, template,
         jsonb_build_object('esco_name', esco_name) || coalesce(payload, '{}'),
         dedupe_base || ':sub:' || s.id, 5::smallint) is not null then
      queued := queued + 1;
    end if;
  end loop;
  return queued;
end
$$;
comment on function internal.notify_operators(uuid, text, jsonb, text) is
  'Queues an operator alert to every active subscription of the ESCO that takes this kind.';
revoke all on function internal.notify_operators(uuid, text, jsonb, text) from public;
grant execute on function internal.notify_operators(uuid, text, jsonb, text) to worker;

-- Customers supplied today through a meter (any role on the account), vulnerable first.
create or replace function internal.notify_meter_customers(meter_id uuid)
returns table (customer uuid, account uuid)
language sql stable security definer
set search_path = ''
as $$
  select distinct on (ca.customer) ca.customer, s.account
    from flows.property_meters pm
    join public.account_supplies s on s.property = pm.property
    join public.customer_accounts ca on ca.account = s.account
    join public.customers c on c.id = ca.customer
   where pm.meter = meter_id
     and s.start_date <= (now() at time zone 'Europe/London')::date
     and (s.end_date is null or s.end_date > (now() at time zone 'Europe/London')::date)
   order by ca.customer
$$;
comment on function internal.notify_meter_customers(uuid) is 'Customers (and their account) supplied today through a meter.';
revoke all on function internal.notify_meter_customers(uuid) from public;
