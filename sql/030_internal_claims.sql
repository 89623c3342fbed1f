-- Who is asking: the claim helpers that row-level security policies use. They read membership and
-- supply tables the caller may not read itself, so they are SECURITY DEFINER with an empty
-- search_path, and they depend only on request.jwt.claims (never on a claim alone for operators:
-- an operator's ESCOs come from public.operator_escos, so removing a membership revokes at once).
-- Policies call them wrapped in a sub-select so they run once per statement:
--   using (esco = any ((select internal.operator_escos())::uuid[]))

create or replace function internal.operator_escos() returns uuid[]
language sql stable security definer
set search_path = ''
as $$
  select coalesce(array_agg(m.esco), '{}')
    from public.operators o
    join public.operator_escos m on m.operator = o.id
   where o.auth_subject = internal.jwt_sub()
$$;
comment on function internal.operator_escos() is
  'ESCO ids of the operator making the request (by JWT sub, through public.operator_escos); {} for anyone else.';

create or replace function internal.service_escos() returns uuid[]
language plpgsql stable
set search_path = ''
as $$
declare
  claimed jsonb := internal.jwt_claims() -> 'escos';
begin
  if claimed is null or jsonb_typeof(claimed) <> 'array' then
    return '{}';
  end if;
  return array(select e::uuid from jsonb_array_elements_text(claimed) e);
exception when invalid_text_representation then
  raise exception 'the escos claim must be an array of ESCO ids' using errcode = 'PT401';
end
$$;
comment on function internal.service_escos() is
  'ESCO ids a service token is scoped to (its escos claim); {} when absent.';

create or replace function internal.my_customer_id() returns uuid
language sql stable security definer
set search_path = ''
as $$
  select c.id from public.customers c where c.auth_subject = internal.jwt_sub()
$$;
comment on function internal.my_customer_id() is 'The customer making the request (customers.auth_subject = JWT sub), or null.';

create or replace function internal.customer_account_ids() returns uuid[]
language sql stable security definer
set search_path = ''
as $$
  select coalesce(array_agg(ca.account), '{}')
    from public.customer_accounts ca
   where ca.customer = internal.my_customer_id()
$$;
comment on function internal.customer_account_ids() is 'Accounts of the customer making the request.';

-- The meters at the properties the customer's accounts supply or supplied, with the supply dates.
create or replace function internal.customer_meter_supplies()
returns table (meter uuid, start_date date, end_date date)
language sql stable security definer
set search_path = ''
as $$
  select pm.meter, s.start_date, s.end_date
    from public.account_supplies s
    join flows.property_meters pm on pm.property = s.property
   where s.account = any (internal.customer_account_ids())
$$;
comment on function internal.customer_meter_supplies() is
  'For the customer making the request: each meter at a property their accounts supply or supplied, with the supply''s dates (end exclusive).';

create or replace function internal.customer_meter_ids() returns uuid[]
language sql stable security definer
set search_path = ''
as $$
  select coalesce(array_agg(distinct m.meter), '{}') from internal.customer_meter_supplies() m
$$;
comment on function internal.customer_meter_ids() is
  'Meters at the properties the customer''s accounts supply or supplied.';

create or replace function internal.customer_current_meter_ids() returns uuid[]
language sql stable security definer
set search_path = ''
as $$
  select coalesce(array_agg(distinct m.meter), '{}')
    from internal.customer_meter_supplies() m
   where m.start_date <= (now() at time zone 'Europe/London')::date
     and (m.end_date is null or m.end_date > (now() at time zone 'Europe/London')::date)
$$;
comment on function internal.customer_current_meter_ids() is
  'Meters at the properties the customer''s accounts supply today (Europe/London): a former occupant no longer sees the live state.';

-- The customer may see a register's data only for the time their account supplied the property:
-- supply dates are Europe/London days, intersected with the register's validity window.
create or replace function internal.customer_register_windows()
returns table (register_id uuid, during tstzrange)
language sql stable security definer
set search_path = ''
as $$
  select r.register_id,
         tstzrange(s.start_date::timestamp at time zone 'Europe/London',
                   s.end_date::timestamp at time zone 'Europe/London', '[)')
         * tstzrange(r.start_time, r.end_time, '[)')
    from public.account_supplies s
    join flows.property_meters pm on pm.property = s.property
    join flows.meter_registers r on r.meter_id = pm.meter
   where s.account = any (internal.customer_account_ids())
     and tstzrange(s.start_date::timestamp at time zone 'Europe/London',
                   s.end_date::timestamp at time zone 'Europe/London', '[)')
         && tstzrange(r.start_time, r.end_time, '[)')
$$;
comment on function internal.customer_register_windows() is
  'For the customer making the request: each register of their meters and the time their supply covered it.';

revoke all on function internal.operator_escos(), internal.service_escos(), internal.my_customer_id(),
  internal.customer_account_ids(), internal.customer_meter_supplies(), internal.customer_meter_ids(),
  internal.customer_current_meter_ids(), internal.customer_register_windows() from public;
grant execute on function internal.operator_escos() to operator;
grant execute on function internal.service_escos() to service;
grant execute on function internal.my_customer_id(), internal.customer_account_ids(), internal.customer_meter_ids(),
  internal.customer_current_meter_ids(), internal.customer_register_windows() to customer;
