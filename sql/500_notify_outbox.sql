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

-- One outbox row and its job. The same dedupe_key again is a no-op (returns null).
create or replace function internal.notify_enqueue(
  esco uuid, customer uuid, subscription uuid, channel text, address text, template text, payload jsonb,
  dedupe_key text, priority smallint default 10, not_before timestamptz default now(), suppressed_because text default null
)
returns uuid
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  new_id uuid;
begin
  insert into public.notifications as n (esco, customer, subscription, channel, address, template, payload, dedupe_key,
                                         priority, next_attempt_at, status, last_error)
  values (notify_enqueue.esco, notify_enqueue.customer, notify_enqueue.subscription, notify_enqueue.channel,
          notify_enqueue.address, notify_enqueue.template, coalesce(notify_enqueue.payload, '{}'),
          notify_enqueue.dedupe_key, notify_enqueue.priority, coalesce(not_before, now()),
          case when suppressed_because is null then 'queued' else 'suppressed' end, suppressed_because)
  on conflict on constraint notifications_dedupe_key_key do nothing
  returning n.id into new_id;
  if new_id is not null and suppressed_because is null then
    perform graphile_worker.add_job(
      identifier => 'notify__' || notify_enqueue.channel,
      payload => json_build_object('id', new_id),
      job_key => 'notify:' || new_id,
      run_at => coalesce(not_before, now()),
      priority => notify_enqueue.priority::int);
  end if;
  return new_id;
end
$$;
comment on function internal.notify_enqueue(uuid, uuid, uuid, text, text, text, jsonb, text, smallint, timestamptz, text) is
  'Adds one message to the outbox and its notify__<channel> job, in the caller''s transaction; a repeated dedupe_key is a no-op.';
revoke all on function internal.notify_enqueue(uuid, uuid, uuid, text, text, text, jsonb, text, smallint, timestamptz, text)
  from public;
grant execute on function internal.notify_enqueue(uuid, uuid, uuid, text, text, text, jsonb, text, smallint, timestamptz, text)
  to worker;

-- A customer message on each channel the customer's preferences allow (an opted-out channel is recorded as
-- suppressed, so "who was told what" stays answerable). Returns how many messages were queued.
create or replace function internal.notify_customer(customer_id uuid, template text, payload jsonb, dedupe_base text)
returns integer
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  c record;
  p record;
  queued integer := 0;
  full_payload jsonb;
  due timestamptz;
begin
  select cu.id, cu.esco, cu.name, cu.email, cu.phone, cu.vulnerable, cu.priority_services, cu.status, e.name as esco_name
    into c
    from public.customers cu join flows.escos e on e.id = cu.esco
   where cu.id = customer_id;
  if not found or c.status = 'closed' then
    return 0;
  end if;
  select coalesce(np.email_kinds, d.email_kinds) as email_kinds, coalesce(np.sms_kinds, d.sms_kinds) as sms_kinds,
         np.quiet_hours_start, np.quiet_hours_end
    into p
    from (select array['invoice_issued', 'payment_received', 'payment_overdue', 'low_balance', 'off_supply',
                       'topup_completed', 'topup_failed', 'tariff_change'] as email_kinds,
                 array['payment_overdue', 'low_balance', 'off_supply', 'topup_failed'] as sms_kinds) d
    left join public.notification_preferences np on np.customer = c.id;
  full_payload := jsonb_build_object('name', c.name, 'esco_name', c.esco_name) || coalesce(payload, '{}');
  if c.email is not null then
    if internal.notify_enqueue(c.esco, c.id, null, 'email', c.email, template, full_payload,
         dedupe_base || ':email:' || c.id,
         case when c.vulnerable or c.priority_services then 0 else 10 end::smallint, now(),
         case when template = any (p.email_kinds) then null else 'opted out' end) is not null
       and template = any (p.email_kinds) then
      queued := queued + 1;
    end if;
  end if;
  if c.phone is not null then
    due := case when template = 'off_supply' then now()
                else internal.notify_quiet_until(p.quiet_hours_start, p.quiet_hours_end, now()) end;
    if internal.notify_enqueue(c.esco, c.id, null, 'sms', c.phone, template, full_payload,
         dedupe_base || ':sms:' || c.id,
         case when c.vulnerable or c.priority_services then 0 else 10 end::smallint, due,
         case when template = any (p.sms_kinds) then null else 'opted out' end) is not null
       and template = any (p.sms_kinds) then
      queued := queued + 1;
    end if;
  end if;
  return queued;
end
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
    from flows.service_head_meter shm
    join flows.properties_service_head psh on psh.service_head = shm.service_head
    join public.account_supplies s on s.property = psh.property
    join public.customer_accounts ca on ca.account = s.account
    join public.customers c on c.id = ca.customer
   where shm.meter = meter_id
     and s.start_date <= (now() at time zone 'Europe/London')::date
     and (s.end_date is null or s.end_date > (now() at time zone 'Europe/London')::date)
   order by ca.customer
$$;
comment on function internal.notify_meter_customers(uuid) is 'Customers (and their account) supplied today through a meter.';
revoke all on function internal.notify_meter_customers(uuid) from public;
