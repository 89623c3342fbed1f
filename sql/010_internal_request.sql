-- Request helpers that policies and the REST layer use: JWT claims, the pre-request hook.

create or replace function internal.jwt_claims() returns jsonb
language sql stable parallel safe
set search_path = ''
as $$
  select coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb
$$;
comment on function internal.jwt_claims() is 'The JWT claims of the current request (request.jwt.claims), or {} outside a request.';

create or replace function internal.jwt_sub() returns text
language sql stable parallel safe
set search_path = ''
as $$
  select internal.jwt_claims() ->> 'sub'
$$;
comment on function internal.jwt_sub() is 'The subject (sub claim) of the current request, or null.';

create or replace function internal.pre_request() returns void
language plpgsql volatile
set search_path = ''
as $$
begin
  -- PGRST_DB_PRE_REQUEST. Service tokens must name a live registered key (sql/600_keys.sql); other roles'
  -- tokens come from the identity provider and are checked by their signature and claims alone.
  if current_user = 'service' then
    perform internal.service_key_check();
  end if;
end
$$;
comment on function internal.pre_request() is $$Runs before every REST request (PGRST_DB_PRE_REQUEST), as the request role.
A service token is refused (401) unless its jti is a live key of internal.api_keys whose scopes allow the request.$$;

-- Shared trigger function: `before update … execute function internal.tg_touch_updated_at()`.
create or replace function internal.tg_touch_updated_at() returns trigger
language plpgsql volatile
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;
comment on function internal.tg_touch_updated_at() is 'Trigger: sets the row''s updated_at to the transaction time on every update.';
revoke all on function internal.tg_touch_updated_at() from public;

grant execute on function internal.jwt_claims(), internal.jwt_sub() to anon, customer, operator, service, worker;
grant execute on function internal.pre_request() to authenticator, anon, customer, operator, service;
