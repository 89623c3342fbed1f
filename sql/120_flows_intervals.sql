-- flows interval data: half-hourly kWh per register, monthly partitions, and the one ingest path.
--
-- Ingest, used by the REST RPC flows.ingest_interval_hh, src/db/ingest.ts (sync job, demo seeder)
-- and the benchmark:
--   1. select internal.open_interval_staging();           -- an empty pg_temp.interval_hh_staging
--   2. insert into pg_temp.interval_hh_staging … (or COPY)  -- the batch, one row per half-hour
--   3. select * from internal.ingest_staged_intervals();  -- validate, flag, one INSERT (… ON CONFLICT)
-- The staging table belongs to this session and to flows_owner (the definer functions only read a
-- table they own); insert is granted to PUBLIC, harmless since only this session can reach it.

-- flows.register_interval_hh ----------------------------------------------------------------------------

grant select on flows.register_interval_hh to customer, operator, service, worker, reporting;

create policy select_as_customer on flows.register_interval_hh for select to customer
  using (exists (select 1 from internal.customer_register_windows() w
                  where w.register_id = register_interval_hh.register_id
                    and w.during @> register_interval_hh."timestamp"));
create policy select_as_operator on flows.register_interval_hh for select to operator
  using (register_id in (select r.register_id from flows.meter_registers r
                          where r.esco = any ((select internal.operator_escos())::uuid[])));
create policy select_as_service on flows.register_interval_hh for select to service
  using (register_id in (select r.register_id from flows.meter_registers r
                          where r.esco = any ((select internal.service_escos())::uuid[])));
create policy select_as_worker on flows.register_interval_hh for select to worker using (true);
create policy select_as_reporting on flows.register_interval_hh for select to reporting using (true);

comment on table flows.register_interval_hh is $$Half-hourly energy per register (import and export kWh), partitioned by month.
Written only through the ingest path (flows.ingest_interval_hh): re-ingesting a batch changes nothing, an actual value replaces an estimate but never the reverse, and suspicious values are kept and flagged.$$;
comment on column flows.register_interval_hh.register_id is 'The register.';
comment on column flows.register_interval_hh."timestamp" is 'Start of the half-hour (UTC, on :00 or :30).';
comment on column flows.register_interval_hh.import_kwh is 'Energy imported during the half-hour, kWh.';
comment on column flows.register_interval_hh.export_kwh is 'Energy exported during the half-hour, kWh; null where not measured.';
comment on column flows.register_interval_hh.quality is 'actual (read from the meter) or estimated.';
comment on column flows.register_interval_hh.source is 'Where the value came from (e.g. emop, api, demo).';
comment on column flows.register_interval_hh.flags is 'Suspicious-read flags: negative, jump (over the ESCO''s max_interval_kwh), counter_wrap (a 2^32 Wh counter wrap).';
comment on column flows.register_interval_hh.ingested_at is 'When the row was last written.';

-- register_interval_hh has no foreign key (ingest speed, see migrations/0002): this trigger keeps
-- the reference whole. SECURITY DEFINER: the check must see rows the caller's RLS may hide.
create or replace function internal.tg_meter_registers__keep_interval_data() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  outside timestamptz;
begin
  if tg_op = 'UPDATE' and new.register_id = old.register_id then
    -- a validity window may not shrink past the register's data: billing and my_consumption read a register
    -- only within its window, so the half-hours left outside would silently stop counting
    if (new.start_time, new.end_time) is distinct from (old.start_time, old.end_time) then
      select i."timestamp" into outside
        from flows.register_interval_hh i
       where i.register_id = old.register_id
         and (i."timestamp" < new.start_time or i."timestamp" >= coalesce(new.end_time, 'infinity'))
       limit 1;
      if found then
        raise exception 'register % has interval data at %, outside % to %', old.register_id, outside,
            new.start_time, coalesce(new.end_time::text, 'open-ended')
          using errcode = '23514',
                hint = 'A register''s window must cover its half-hours; end it no earlier than its last one.';
      end if;
    end if;
    return new;
  end if;
  if exists (select 1 from flows.register_interval_hh i where i.register_id = old.register_id) then
    raise exception 'register % has interval data', old.register_id
      using errcode = '23503', hint = 'End the register (end_time, status replaced) instead of deleting it.';
  end if;
  return case when tg_op = 'DELETE' then old else new end;
end
$$;
comment on function internal.tg_meter_registers__keep_interval_data() is
  'Trigger: refuses to delete or re-key a register that has rows in flows.register_interval_hh, or to narrow its validity window past them.';

drop trigger if exists t10_keep_interval_data on flows.meter_registers;
create trigger t10_keep_interval_data before delete or update of register_id, start_time, end_time on flows.meter_registers
  for each row execute function internal.tg_meter_registers__keep_interval_data();

-- Partitions ---------------------------------------------------------------------------------------------

create or replace function internal.ensure_interval_partitions(from_ts timestamptz, to_ts timestamptz)
returns integer
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  -- Months are UTC months (partition bounds are instants; local days never straddle two partitions' data).
  first_month timestamp := date_trunc('month', from_ts at time zone 'UTC');
  last_month timestamp := date_trunc('month', to_ts at time zone 'UTC');
  month timestamp;
  months integer;
  partition_name text;
  locked boolean := false;
  created integer := 0;
begin
  if from_ts is null or to_ts is null or to_ts < from_ts then
    raise exception 'invalid partition range [%, %]', from_ts, to_ts
      using errcode = '22023', hint = 'Pass from_ts <= to_ts, both not null.';
  end if;
  if last_month > first_month + interval '10 years' then
    raise exception 'partition range [%, %] spans more than 10 years', from_ts, to_ts
      using errcode = '22023', hint = 'Create partitions for at most 120 months at a time.';
  end if;
  months := (extract(year from age(last_month, first_month)) * 12 + extract(month from age(last_month, first_month)))::integer;
  for k in 0 .. months loop
    month := first_month + make_interval(months => k);
    partition_name := 'register_interval_hh_' || to_char(month, '"y"YYYY"m"MM');
    if not exists (select 1 from pg_catalog.pg_class c
                    where c.relnamespace = 'flows_partitions'::regnamespace and c.relname = partition_name) then
      -- Concurrent callers queue here; the loser finds the partition made and skips it.
      if not locked then
        perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('internal.ensure_interval_partitions'));
        locked := true;
        -- the session we waited for may have created it (a new statement sees what it committed)
        continue when exists (select 1 from pg_catalog.pg_class c
                               where c.relnamespace = 'flows_partitions'::regnamespace and c.relname = partition_name);
      end if;
      -- Create, then attach: ATTACH PARTITION takes only a SHARE UPDATE EXCLUSIVE lock on the parent,
      -- so readers and ingest carry on (CREATE … PARTITION OF would wait for them and block them).
      execute format('create table flows_partitions.%I (like flows.register_interval_hh including all)',
        partition_name);
      execute format('alter table flows_partitions.%I enable row level security', partition_name);
      execute format('alter table flows.register_interval_hh attach partition flows_partitions.%I
                        for values from (%L) to (%L)',
        partition_name,
        to_char(month, 'YYYY-MM-DD') || ' 00:00:00+00',
        to_char(month + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00');
      execute format('comment on table flows_partitions.%I is %L', partition_name,
        'Partition of flows.register_interval_hh for ' || to_char(month, 'YYYY-MM') || ' (UTC).');
      created := created + 1;
    end if;
  end loop;
  return created;
end
$$;
comment on function internal.ensure_interval_partitions(timestamptz, timestamptz) is
  'Creates the missing monthly partitions of flows.register_interval_hh covering [from_ts, to_ts]; returns how many it created. Idempotent and safe under concurrency.';
revoke all on function internal.ensure_interval_partitions(timestamptz, timestamptz) from public;
grant execute on function internal.ensure_interval_partitions(timestamptz, timestamptz) to worker;

-- Staging ------------------------------------------------------------------------------------------------

create or replace function internal.open_interval_staging() returns void
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  staging regclass := pg_catalog.to_regclass('pg_temp.interval_hh_staging');
begin
  if staging is null then
    create temporary table pg_temp.interval_hh_staging (
      row_number bigint,
      register_id uuid,
      "timestamp" timestamptz,
      import_kwh numeric,
      export_kwh numeric,
      quality text,
      source text,
      flags text[]  -- set by internal.ingest_staged_intervals() on suspicious rows only
    );
    -- Only this session can reach its temporary tables; the caller fills it.
    grant insert on pg_temp.interval_hh_staging to public;
  elsif not exists (select 1 from pg_catalog.pg_class c
                     where c.oid = staging and c.relkind = 'r' and c.relowner = (select o.oid from pg_catalog.pg_roles o where o.rolname = current_user)) then
    raise exception 'pg_temp.interval_hh_staging was not created by internal.open_interval_staging'
      using errcode = '42501', hint = 'Drop your own pg_temp.interval_hh_staging and call internal.open_interval_staging().';
  end if;
  truncate pg_temp.interval_hh_staging;
end
$$;
comment on function internal.open_interval_staging() is
  'Creates or empties this session''s staging table pg_temp.interval_hh_staging for internal.ingest_staged_intervals().';
revoke all on function internal.open_interval_staging() from public;
grant execute on function internal.open_interval_staging() to worker;

-- Ingest -------------------------------------------------------------------------------------------------

create or replace function internal.ingest_staged_intervals()
returns table (inserted bigint, updated bigint, unchanged bigint, flagged bigint)
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  -- The role the request runs as (SET ROLE survives SECURITY DEFINER), else the login.
  caller text := coalesce(nullif(current_setting('role', true), 'none'), session_user);
  allowed_escos uuid[];  -- null: every ESCO
  wrap constant numeric := 4294967.296;  -- 2^32 Wh in kWh
  latest constant timestamptz := now() + interval '1 day';
  staging regclass := pg_catalog.to_regclass('pg_temp.interval_hh_staging');
  bad record;
  first_ts timestamptz;
  last_ts timestamptz;
  total bigint;
  bad_rows bigint;          -- malformed staged rows
  maybe_suspicious bigint;  -- staged rows outside [0, the lowest limit of the batch's ESCOs]
  suspicious bigint := 0;   -- staged rows that get a flag
  registers uuid[];         -- the batch's registers, each once
  known_registers bigint;   -- how many of them exist and the caller may write
  lowest_limit numeric;
  fresh boolean;            -- no register of the batch has a row in the batch's time range yet
  n_inserted bigint := 0;
  n_updated bigint := 0;
begin
  if staging is null or not exists (
       select 1 from pg_catalog.pg_class c
        where c.oid = staging and c.relkind = 'r'
          and c.relowner = (select o.oid from pg_catalog.pg_roles o where o.rolname = current_user)) then
    raise exception 'no staged interval data in this session'
      using errcode = '55000', hint = 'Call internal.open_interval_staging() and fill pg_temp.interval_hh_staging first.';
  end if;

  -- Who may write which registers: a service the registers of the ESCOs of its token, the worker
  -- (and the owner: migrations, seeding) all of them.
  if caller = 'service' then
    allowed_escos := internal.service_escos();
  elsif caller <> 'worker' and not pg_catalog.pg_has_role(caller, 'flows_owner', 'usage') then
    raise exception 'role % may not ingest interval data', caller
      using errcode = '42501', hint = 'Interval data is ingested by the service and worker roles.';
  end if;

  -- The batch's registers, each once: all must exist and be writable by the caller. The lowest
  -- jump limit among their ESCOs lets the pass below spot suspicious rows without a join.
  registers := array(select distinct s.register_id from pg_temp.interval_hh_staging s);
  select count(*), min(esco.max_interval_kwh) into known_registers, lowest_limit
    from flows.meter_registers r
    join flows.escos esco on esco.id = r.esco
   where r.register_id = any (registers) and (allowed_escos is null or r.esco = any (allowed_escos));

  -- One pass over the batch: its size and time range, whether any row is malformed and whether any
  -- may be suspicious (the UPDATE further down decides exactly).
  select count(*), min(s."timestamp"), max(s."timestamp"),
         count(*) filter (
           where s.register_id is null or s."timestamp" is null or s.import_kwh is null
              or s.source is null or s.source = '' or coalesce(s.quality, 'actual') not in ('actual', 'estimated')
              or s."timestamp" <> pg_catalog.date_bin('30 minutes', s."timestamp", '2000-01-01 00:00:00+00')
              or s."timestamp" < '2000-01-01 00:00:00+00' or s."timestamp" >= latest
              or s.import_kwh >= 1e11 or s.import_kwh <= -1e11 or s.export_kwh >= 1e11 or s.export_kwh <= -1e11),
         count(*) filter (
           where s.import_kwh < 0 or s.export_kwh < 0 or s.import_kwh > lowest_limit or s.export_kwh > lowest_limit)
    into total, first_ts, last_ts, bad_rows, maybe_suspicious
    from pg_temp.interval_hh_staging s;

  -- The whole batch is rejected, naming its first bad row (looked for only when there is one);
  -- unknown registers and registers of other ESCOs get the same answer: nothing leaks about them.
  if bad_rows > 0 or known_registers < cardinality(registers) then
    select x.row_number, x.register_id, x."timestamp", x.problem into bad
      from (select s.row_number, s.register_id, s."timestamp",
                   case
                     when s.register_id is null or s."timestamp" is null or s.import_kwh is null
                          or s.source is null or s.source = '' or coalesce(s.quality, 'actual') not in ('actual', 'estimated')
                       then 'required'
                     when s."timestamp" <> pg_catalog.date_bin('30 minutes', s."timestamp", '2000-01-01 00:00:00+00') then 'aligned'
                     when s."timestamp" < '2000-01-01 00:00:00+00' or s."timestamp" >= latest then 'range'
                     when abs(s.import_kwh) >= 1e11 or abs(s.export_kwh) >= 1e11 then 'magnitude'
                     when r.register_id is null or (allowed_escos is not null and r.esco <> all (allowed_escos)) then 'register'
                   end as problem
              from pg_temp.interval_hh_staging s
              left join flows.meter_registers r on r.register_id = s.register_id) x
     where x.problem is not null
     order by x.row_number
     limit 1;
    case bad.problem
      when 'required' then
        raise exception 'row %: register_id, timestamp, import_kwh and source are required, quality is actual or estimated',
          coalesce(bad.row_number::text, '?')
          using errcode = '22023', hint = 'Send {register_id, timestamp, import_kwh, export_kwh?, quality?, source} per row.';
      when 'aligned' then
        raise exception 'row %: timestamp % is not the start of a half-hour', bad.row_number, bad."timestamp"
          using errcode = '22023', hint = 'Interval timestamps are the start of the half-hour, on :00 or :30 UTC.';
      when 'range' then
        raise exception 'row %: timestamp % is out of range', bad.row_number, bad."timestamp"
          using errcode = '22023', hint = 'Interval data starts from 2000 and may not be in the future.';
      when 'magnitude' then
        raise exception 'row %: energy value out of range', bad.row_number
          using errcode = '22003', hint = 'import_kwh and export_kwh are kWh per half-hour, below 1e11.';
      else  -- 'register'
        raise exception 'row %: register % not found', bad.row_number, bad.register_id
          using errcode = 'PT404',
                hint = 'Check the register id in flows.meter_registers (a service token writes only registers of its ESCOs).';
    end case;
  end if;
  if total = 0 then
    return query select 0::bigint, 0::bigint, 0::bigint, 0::bigint;
    return;
  end if;

  -- What the foreign key would do: no register may disappear under the rows being written.
  perform 1 from flows.meter_registers r where r.register_id = any (registers) for key share;

  perform internal.ensure_interval_partitions(first_ts, last_ts);

  -- Suspicious values are flagged, never dropped. Only rows outside [0, max] need a look, so one
  -- UPDATE of those few staged rows (none in most batches) keeps the flag logic off the hot path.
  -- A counter that wraps at 2^32 Wh gives a large negative difference; wrapped back it is plausible.
  if maybe_suspicious > 0 then
    update pg_temp.interval_hh_staging s
       set flags = array_remove(array[
             case when (s.import_kwh < 0 and not coalesce(s.import_kwh + wrap between 0 and esco.max_interval_kwh, false))
                    or (s.export_kwh < 0 and not coalesce(s.export_kwh + wrap between 0 and esco.max_interval_kwh, false))
                  then 'negative' end,
             case when s.import_kwh > esco.max_interval_kwh or s.export_kwh > esco.max_interval_kwh then 'jump' end,
             case when (s.import_kwh < 0 and s.import_kwh + wrap between 0 and esco.max_interval_kwh)
                    or (s.export_kwh < 0 and s.export_kwh + wrap between 0 and esco.max_interval_kwh)
                  then 'counter_wrap' end
           ], null)
      from flows.meter_registers r
      join flows.escos esco on esco.id = r.esco
     where r.register_id = s.register_id
       and (s.import_kwh < 0 or s.export_kwh < 0
            or s.import_kwh > esco.max_interval_kwh or s.export_kwh > esco.max_interval_kwh);
    -- every row this UPDATE touches gets at least one flag
    get diagnostics suspicious = row_count;
  end if;

  -- New data (the usual case: the next half-hours of each register) is a plain INSERT; a batch that
  -- meets stored rows is one INSERT … ON CONFLICT, which costs about twice as much per row.
  -- import_kwh and export_kwh are rounded to 3 places, half away from zero, by the assignment to
  -- numeric(14, 3), exactly as round(x, 3) would.
  -- (EXECUTE: planned for this batch's values every time. A plan cached by the session, made while the month's
  -- partition was empty, would scan the whole partition once it is full.)
  execute 'select not exists (select 1 from flows.register_interval_hh t
                               where t.register_id = any ($1) and t."timestamp" between $2 and $3)'
     into fresh using registers, first_ts, last_ts;
  if fresh then
    begin
      insert into flows.register_interval_hh
        (register_id, "timestamp", import_kwh, export_kwh, quality, source, flags, ingested_at)
      select s.register_id, s."timestamp", s.import_kwh, s.export_kwh,
             coalesce(s.quality, 'actual'), s.source, coalesce(s.flags, '{}'), now()
        from pg_temp.interval_hh_staging s;
      get diagnostics n_inserted = row_count;
    exception when unique_violation then
      -- a row repeated in the batch, or rows another session wrote meanwhile: the INSERT is undone
      -- and the upsert below sorts it out
      fresh := false;
    end;
  end if;
  if not fresh then
    -- The same register and half-hour twice in the batch is refused, naming the rows. (The upsert below would
    -- notice only when it wrote both copies, not when it leaves one alone: identical to a stored row, or an
    -- estimate over an actual value.)
    select x.row_number, x.register_id, x."timestamp", x.first_row into bad
      from (select y.row_number, y.register_id, y."timestamp",
                   first_value(y.row_number) over (partition by y.register_id, y."timestamp" order by y.row_number)
                     as first_row,
                   row_number() over (partition by y.register_id, y."timestamp" order by y.row_number) as copy
              from pg_temp.interval_hh_staging y) x
     where x.copy > 1
     order by x.row_number
     limit 1;
    if found then
      raise exception 'row %: register % at % repeats row %', bad.row_number, bad.register_id, bad."timestamp",
          bad.first_row
        using errcode = '22023', hint = 'Send each register and half-hour once per batch.';
    end if;
    -- An insert stamps ingested_at with now() (the transaction's start), an update with
    -- clock_timestamp() (later), which is how the counts tell them apart.
    with written as (
      insert into flows.register_interval_hh as t
        (register_id, "timestamp", import_kwh, export_kwh, quality, source, flags, ingested_at)
      select s.register_id, s."timestamp", s.import_kwh, s.export_kwh,
             coalesce(s.quality, 'actual'), s.source, coalesce(s.flags, '{}'), now()
        from pg_temp.interval_hh_staging s
      on conflict (register_id, "timestamp") do update
        set import_kwh = excluded.import_kwh, export_kwh = excluded.export_kwh, quality = excluded.quality,
            source = excluded.source, flags = excluded.flags, ingested_at = clock_timestamp()
        -- an estimate never replaces an actual value; identical values are left alone
        where not (t.quality = 'actual' and excluded.quality = 'estimated')
          and (t.import_kwh, t.export_kwh, t.quality, t.flags)
              is distinct from (excluded.import_kwh, excluded.export_kwh, excluded.quality, excluded.flags)
      returning t.ingested_at = now() as is_insert
    )
    select count(*) filter (where w.is_insert), count(*) filter (where not w.is_insert)
      into n_inserted, n_updated
      from written w;
  end if;

  truncate pg_temp.interval_hh_staging;
  return query select n_inserted, n_updated, total - n_inserted - n_updated, suspicious;
end
$$;
comment on function internal.ingest_staged_intervals() is
  'The one ingest path for interval data: moves pg_temp.interval_hh_staging into flows.register_interval_hh with one INSERT (… ON CONFLICT where the batch meets stored rows; idempotent; actual beats estimated; suspicious values flagged). Returns counts.';
revoke all on function internal.ingest_staged_intervals() from public;
grant execute on function internal.ingest_staged_intervals() to worker;

-- The REST entry point ----------------------------------------------------------------------------------

create or replace function flows.ingest_interval_hh(rows jsonb)
returns table (inserted bigint, updated bigint, unchanged bigint, flagged bigint)
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  zoneless record;
begin
  if rows is null or jsonb_typeof(rows) <> 'array' then
    raise exception 'rows must be a JSON array'
      using errcode = '22023', hint = 'Send [{register_id, timestamp, import_kwh, export_kwh?, quality?, source?}, …].';
  end if;
  if jsonb_array_length(rows) > 50000 then
    raise exception 'a batch holds at most 50000 rows, not %', jsonb_array_length(rows)
      using errcode = '22023', hint = 'Split the data into batches of at most 50000 rows.';
  end if;
  -- A timestamp without a zone would be read in the session's time zone (UTC under PostgREST, not elsewhere).
  select e.n, e.v ->> 'timestamp' as ts into zoneless
    from jsonb_array_elements(rows) with ordinality as e(v, n)
   where jsonb_typeof(e.v -> 'timestamp') = 'string'
     and e.v ->> 'timestamp' !~* '(z|[+-][0-9]{2}(:?[0-9]{2})?)$'
   order by e.n
   limit 1;
  if found then
    raise exception 'row %: timestamp % has no time zone', zoneless.n, zoneless.ts
      using errcode = '22023', hint = 'Send ISO 8601 with a zone, e.g. 2026-10-01T12:30:00Z or 2026-10-01T13:30:00+01:00.';
  end if;
  perform internal.open_interval_staging();
  begin
    insert into pg_temp.interval_hh_staging (row_number, register_id, "timestamp", import_kwh, export_kwh, quality, source)
    select e.n, (e.v ->> 'register_id')::uuid, (e.v ->> 'timestamp')::timestamptz, (e.v ->> 'import_kwh')::numeric,
           (e.v ->> 'export_kwh')::numeric, e.v ->> 'quality', coalesce(e.v ->> 'source', 'api')
      from jsonb_array_elements(rows) with ordinality as e(v, n);
  exception when invalid_text_representation or invalid_datetime_format or datetime_field_overflow
                 or invalid_parameter_value or numeric_value_out_of_range then
    raise exception 'rows: %', sqlerrm
      using errcode = '22023', hint = 'register_id is a uuid, timestamp ISO 8601 with a zone, import_kwh and export_kwh numbers.';
  end;
  return query select * from internal.ingest_staged_intervals();
end
$$;
comment on function flows.ingest_interval_hh(jsonb) is $$Ingests a batch of half-hourly interval data; returns how many rows were inserted, updated, unchanged and flagged.
rows: [{register_id, timestamp (start of the half-hour), import_kwh, export_kwh?, quality? (actual|estimated, default actual), source? (default api)}], at most 50000. Idempotent: the same batch twice changes nothing; an estimate never replaces an actual value; suspicious values (negative, jump, counter_wrap) are stored and flagged. A service token may write only registers of its ESCOs.$$;
revoke all on function flows.ingest_interval_hh(jsonb) from public;
grant execute on function flows.ingest_interval_hh(jsonb) to service, worker;
