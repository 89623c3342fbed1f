-- Notifications, part 2: the events that exist today, each enqueued in the transaction of the change that
-- causes it (triggers), plus the planners' functions (daily tariff notices, meters offline). Templates and
-- payloads: src/notify/templates.ts; docs/notifications.md lists every event and its dedupe key.

-- Top-up completed (verified by the meter) or failed: the customers on the account. ------------------------

create or replace function internal.tg_topups__notify() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  kind text := case new.status when 'verified' then 'topup_completed' when 'failed' then 'topup_failed' end;
  c record;
  serial text;
begin
  if kind is null or (tg_op = 'UPDATE' and old.status is not distinct from new.status) then
    return null;
  end if;
  select m.serial into serial from flows.meter_registry m where m.id = new.meter;
  for c in select ca.customer from public.customer_accounts ca where ca.account = new.account order by ca.customer loop
    perform internal.notify_customer(c.customer, kind,
      jsonb_build_object('amount_gbp', new.amount::text, 'meter_serial', serial, 'topup_id', new.id,
                         'balance_gbp', new.meter_balance_after::text,
                         'at', coalesce(new.verified_at, new.failed_at, now())),
      kind || ':' || new.id);
  end loop;
  return null;
end
$$;
comment on function internal.tg_topups__notify() is 'Trigger: a top-up verified or failed notifies the customers on its account.';
revoke all on function internal.tg_topups__notify() from public;

drop trigger if exists _500_notify on public.topups;
create trigger _500_notify after insert or update of status on public.topups
  for each row execute function internal.tg_topups__notify();

-- Prepay balance: below the customer's threshold (at most once a day per meter), and off supply (credit and the
-- emergency credit exhausted) to the customers and the ESCO's operators at once, vulnerable customers first. The
-- sync writes a prepay meter's balance signed (negative = emergency credit in use, also in emergency_credit);
-- the meter cuts the supply when the balance reaches minus its emergency credit allowance, the
-- prepayment_emergency_credit of its active tariff (none read yet: 0, the supply is cut at zero).

create or replace function internal.tg_meter_shadows__notify_balance() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  m record;
  c record;
  threshold numeric;
  allowance numeric := case when new.tariffs_active ->> 'prepayment_emergency_credit' ~ '^[0-9]{1,9}(\.[0-9]+)?$'
                            then (new.tariffs_active ->> 'prepayment_emergency_credit')::numeric else 0 end;
  was_off boolean := old.balance is not null and old.balance <= -allowance;
  is_off boolean := new.balance is not null and new.balance <= -allowance;
  today date := (now() at time zone 'Europe/London')::date;
  payload jsonb;
begin
  if new.balance is null or (new.balance is not distinct from old.balance
                             and new.emergency_credit is not distinct from old.emergency_credit) then
    return null;
  end if;
  select r.id, r.serial, r.esco, r.prepay_enabled into m from flows.meter_registry r where r.id = new.id;
  if not found or not m.prepay_enabled then
    return null;
  end if;
  payload := jsonb_build_object('meter_serial', m.serial, 'balance_gbp', new.balance::text,
                                'emergency_credit_gbp', coalesce(new.emergency_credit, 0)::text,
                                'at', new.balance_updated_at);
  if is_off and not was_off then
    -- Customers first in this loop is only cosmetic: priorities (vulnerable 0, operators 5) order the sending.
    for c in select mc.customer from internal.notify_meter_customers(new.id) mc
               join public.customers cu on cu.id = mc.customer
              order by (cu.vulnerable or cu.priority_services) desc, mc.customer loop
      perform internal.notify_customer(c.customer, 'off_supply', payload,
        'off_supply:' || new.id || ':' || extract(epoch from new.balance_updated_at)::text);
    end loop;
    perform internal.notify_operators(m.esco, 'off_supply', payload,
      'off_supply:' || new.id || ':' || extract(epoch from new.balance_updated_at)::text);
  elsif not is_off and (old.balance is null or new.balance < old.balance) then
    for c in select mc.customer, coalesce(np.low_balance_threshold_gbp, 5.00) as threshold
               from internal.notify_meter_customers(new.id) mc
               left join public.notification_preferences np on np.customer = mc.customer loop
      threshold := c.threshold;
      if new.balance < threshold then
        perform internal.notify_customer(c.customer, 'low_balance',
          payload || jsonb_build_object('threshold_gbp', threshold::text),
          'low_balance:' || new.id || ':' || today::text);
      end if;
    end loop;
  end if;
  return null;
end
$$;
comment on function internal.tg_meter_shadows__notify_balance() is
  'Trigger: a prepay balance below the customer''s threshold (once a day per meter) or off supply (customers and operators) queues notifications.';
revoke all on function internal.tg_meter_shadows__notify_balance() from public;

drop trigger if exists t50_notify_balance on flows.meter_shadows;
create trigger t50_notify_balance after update of balance, emergency_credit on flows.meter_shadows
  for each row execute function internal.tg_meter_shadows__notify_balance();

-- Meter offline for the ESCO's offline_after_hours (planner below) and recovered (this trigger): operators. A meter
-- is heard from when a sync finds it healthy (meter_shadows.last_healthy_at); a failed sync writes the shadow too
-- (health unhealthy), so the shadow's updated_at says nothing about the meter.

create or replace function internal.tg_meter_shadows__notify_recovered() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  was record;
  serial text;
begin
  delete from internal.notify_meter_offline o where o.meter = new.id returning o.* into was;
  if found then
    select r.serial into serial from flows.meter_registry r where r.id = new.id;
    perform internal.notify_operators(was.esco, 'meter_recovered',
      jsonb_build_object('meter_serial', serial, 'offline_since', was.since, 'recovered_at', new.last_healthy_at),
      'meter_recovered:' || new.id || ':' || extract(epoch from was.since)::text);
  end if;
  return null;
end
$$;
comment on function internal.tg_meter_shadows__notify_recovered() is
  'Trigger: a meter reported offline that a sync finds healthy again: tells the ESCO''s operators it recovered.';
revoke all on function internal.tg_meter_shadows__notify_recovered() from public;

drop trigger if exists t51_notify_recovered on flows.meter_shadows;
create trigger t51_notify_recovered after update on flows.meter_shadows
  for each row when (new.last_healthy_at is distinct from old.last_healthy_at and new.last_healthy_at is not null)
  execute function internal.tg_meter_shadows__notify_recovered();

create or replace function internal.notify_meters_offline() returns integer
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  m record;
  n integer := 0;
begin
  for m in select r.id, r.serial, r.esco, coalesce(s.last_healthy_at, r.created_at) as last_seen, e.offline_after_hours
             from flows.meter_registry r
             join flows.meter_shadows s on s.id = r.id
             join flows.escos e on e.id = r.esco
            where r.mode = 'active'
              and coalesce(s.last_healthy_at, r.created_at) < now() - make_interval(hours => e.offline_after_hours)
              and not exists (select 1 from internal.notify_meter_offline o where o.meter = r.id)
            order by r.id
              for update of s skip locked
  loop
    insert into internal.notify_meter_offline (meter, esco, since) values (m.id, m.esco, m.last_seen)
    on conflict (meter) do nothing;
    n := n + internal.notify_operators(m.esco, 'meter_offline',
      jsonb_build_object('meter_serial', m.serial, 'last_seen', m.last_seen, 'hours', m.offline_after_hours),
      'meter_offline:' || m.id || ':' || extract(epoch from m.last_seen)::text);
  end loop;
  return n;
end
$$;
comment on function internal.notify_meters_offline() is
  'Planner (notify__meters_offline): alerts operators once for each meter not found healthy for longer than its ESCO''s offline_after_hours.';
revoke all on function internal.notify_meters_offline() from public;
grant execute on function internal.notify_meters_offline() to worker;

-- Tariff change notices: every customer affected by a tariff taking effect within `horizon_days`, once, at
-- least 30 days ahead when the tariff was entered in time (payload `late` says when it was not).

create or replace function internal.notify_tariff_changes(horizon_days integer default 60) returns integer
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  t record;
  n integer := 0;
  today date := (now() at time zone 'Europe/London')::date;
begin
  for t in
    -- ESCO tariffs: every active customer of the ESCO without their own tariff from that day.
    select mt.id as tariff, c.id as customer, mt.effective_from, mt.unit_rate_a_gbp_kwh as unit_rate,
           mt.standing_charge_gbp_day as standing_charge
      from public.microgrid_tariffs mt
      join public.customers c on c.esco = mt.esco and c.status = 'active'
     where mt.effective_from > today and mt.effective_from <= today + horizon_days
       and not exists (select 1 from public.customer_tariffs ct
                        where ct.customer = c.id and ct.effective_from = mt.effective_from)
    union all
    select ct.id, ct.customer, ct.effective_from, ct.unit_rate_a_gbp_kwh, ct.standing_charge_gbp_day
      from public.customer_tariffs ct
      join public.customers c on c.id = ct.customer and c.status = 'active'
     where ct.effective_from > today and ct.effective_from <= today + horizon_days
     order by 1, 2
  loop
    n := n + internal.notify_customer(t.customer, 'tariff_change',
      jsonb_build_object('effective_from', t.effective_from, 'unit_rate_gbp_kwh', t.unit_rate::text,
                         'standing_charge_gbp_day', t.standing_charge::text,
                         'late', t.effective_from - today < 30),
      'tariff_change:' || t.tariff);
  end loop;
  return n;
end
$$;
comment on function internal.notify_tariff_changes(integer) is
  'Planner (notify__tariff_notices, daily): a notice to each affected customer of a tariff taking effect within horizon_days, once.';
revoke all on function internal.notify_tariff_changes(integer) from public;
grant execute on function internal.notify_tariff_changes(integer) to worker;
