-- Service keys (docs/security.md, "Service keys"): long-lived service JWTs whose jti is registered in
-- internal.api_keys. internal.pre_request() (sql/010) calls internal.service_key_check() for every request
-- made with the service role; `flows keys create|list|revoke` (src/cli/keys.ts) manage the registry.

comment on table internal.api_keys is $$Registered service keys: a service token is accepted only if its jti is a live key here.
Rows are never deleted: revoking sets revoked_at, so the registry is also the keys' history. No web role reads it.$$;
comment on column internal.api_keys.id is 'Key id: the jti claim of its token.';
comment on column internal.api_keys.name is 'Unique name among live keys (lower case, e.g. bank-feed-wlce).';
comment on column internal.api_keys.esco is 'The ESCO the key acts for; its token''s escos claim is exactly [esco].';
comment on column internal.api_keys.scopes is 'What the key may do: read (GET/HEAD of tables and views), write (other methods on tables), rpc:<function> or rpc:* (calls).';
comment on column internal.api_keys.created_at is 'When the key was created.';
comment on column internal.api_keys.created_by is 'Who created it (the operating-system user of flows keys create, or --by).';
comment on column internal.api_keys.expires_at is 'The token''s exp: the key stops working then even if not revoked.';
comment on column internal.api_keys.last_used_at is 'Last request made with the key, to the minute (recorded by the worker from NOTIFY flows_api_key_used).';
comment on column internal.api_keys.revoked_at is 'When the key was revoked; its token is refused from the next request on.';
comment on column internal.api_keys.revoked_by is 'Who revoked it.';
comment on column internal.api_keys.revoked_reason is 'Why it was revoked (free text, optional).';

comment on table internal.retention_policies is $$How long rows of a time-series or log table are kept (jobs/retention__apply.ts, docs/operations.md "Retention").$$;

-- The 401 / 403 of a refused key, shaped as PostgREST reports authentication errors (RAISE SQLSTATE 'PGRST':
-- the same status, body and WWW-Authenticate header under the real PostgREST and the built-in gateway).
create or replace function internal.service_key_refuse(status integer, message text, hint text, challenge text)
returns void
language plpgsql immutable
set search_path = ''
as $$
begin
  raise sqlstate 'PGRST' using
    message = jsonb_build_object('code', 'PT' || status, 'message', message, 'details', null, 'hint', hint)::text,
    detail = jsonb_build_object('status', status, 'headers', jsonb_build_object('WWW-Authenticate', challenge))::text;
end
$$;
comment on function internal.service_key_refuse(integer, text, text, text) is
  'Raises the REST error of a refused service key: status 401 or 403, code PT401/PT403, the WWW-Authenticate challenge.';
revoke all on function internal.service_key_refuse(integer, text, text, text) from public;

create or replace function internal.service_key_check() returns void
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  claims jsonb := internal.jwt_claims();
  key_id uuid;
  key internal.api_keys;
  path text := current_setting('request.path', true);
  method text := current_setting('request.method', true);
  needed text;
begin
  begin
    key_id := (claims ->> 'jti')::uuid;
  exception when invalid_text_representation then
    key_id := null;
  end;
  select * into key from internal.api_keys k where k.id = key_id;
  if not found or key.expires_at <= now() or claims -> 'escos' is distinct from jsonb_build_array(key.esco) then
    perform internal.service_key_refuse(401, 'Unknown service key', 'Service tokens are made by flows keys create.',
      'Bearer error="invalid_token", error_description="Unknown service key"');
  elsif key.revoked_at is not null then
    perform internal.service_key_refuse(401, 'Revoked service key', 'Ask an administrator for a new key.',
      'Bearer error="invalid_token", error_description="Revoked service key"');
  end if;

  -- Scopes, from the REST request's method and path (unset outside a REST request: nothing to check).
  if path is not null then
    needed := case
      when path like '/rpc/%' then 'rpc:' || substr(path, 6)
      when method in ('GET', 'HEAD') then 'read'
      else 'write'
    end;
    if not (needed = any (key.scopes) or (needed like 'rpc:%' and 'rpc:*' = any (key.scopes))) then
      perform internal.service_key_refuse(403, format('The service key''s scopes do not include %s', needed),
        format('The key has: %s.', array_to_string(key.scopes, ', ')),
        format('Bearer error="insufficient_scope", scope="%s"', needed));
    end if;
  end if;

  -- last_used_at, to the minute: NOTIFY works in the READ ONLY transactions of GET requests and takes no row
  -- lock; the worker's listener (src/keys/usage.ts) records it through internal.api_keys_mark_used.
  if key.last_used_at is null or key.last_used_at < now() - interval '1 minute' then
    perform pg_notify('flows_api_key_used', key.id::text);
  end if;
end
$$;
comment on function internal.service_key_check() is $$For internal.pre_request(): refuses a service token whose jti is not a live,
unexpired key of internal.api_keys for exactly the token's ESCO (401), or whose key's scopes do not cover the request (403);
signals its use (NOTIFY flows_api_key_used, at most about once a minute per key). SECURITY DEFINER: reads the registry.$$;
revoke all on function internal.service_key_check() from public;
grant execute on function internal.service_key_check() to service;

create or replace function internal.api_keys_mark_used(key_ids uuid[]) returns integer
language sql volatile security definer
set search_path = ''
as $$
  with marked as (
    update internal.api_keys k set last_used_at = now()
     where k.id = any (key_ids) and (k.last_used_at is null or k.last_used_at < now())
    returning 1
  )
  select count(*)::integer from marked
$$;
comment on function internal.api_keys_mark_used(uuid[]) is
  'Sets last_used_at of the given keys to now; called by the worker''s flows_api_key_used listener (src/keys/usage.ts).';
revoke all on function internal.api_keys_mark_used(uuid[]) from public;
grant execute on function internal.api_keys_mark_used(uuid[]) to worker;
