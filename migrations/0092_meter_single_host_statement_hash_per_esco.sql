-- Up Migration
-- 1. One registry row per physical meter. The worker connects to host(ip_address):port, but the unique
-- (ip_address, port) index compares inet values with their netmask and family: '10.20.0.5/24' and
-- '::ffff:10.20.0.5' are both different from '10.20.0.5', so an operator could register another ESCO's meter
-- under one of them and the worker would sync it into, and push tariffs and tokens from, the wrong ESCO.
-- An address is now a single host (/32, /128) and never IPv4-mapped IPv6 (::ffff:0:0/96, written as IPv4
-- instead), so the index means one device, one row. Existing rows are normalised first; if two of them then
-- address one device, the migration fails naming them: an operator must decide which registration is right.
do $$
declare
  clash text;
begin
  create temporary table meter_address_normalised on commit drop as
  select m.id, m.serial, m.esco, m.port, m.ip_address as old_address,
         case when family(m.ip_address) = 4 then set_masklen(m.ip_address, 32)
              when set_masklen(m.ip_address, 128) << '::ffff:0.0.0.0/96'::inet
                then '0.0.0.0'::inet + (set_masklen(m.ip_address, 128) - '::ffff:0.0.0.0'::inet)
              else set_masklen(m.ip_address, 128)
         end as address
    from flows.meter_registry m
   where m.ip_address is not null;

  select string_agg(c.problem, '; ' order by c.problem) into clash
    from (select format('%s:%s is the address of meters %s', host(n.address), n.port,
                        string_agg(format('%s (ESCO %s, now %s)', n.serial, e.code, n.old_address), ', '
                                   order by n.serial)) as problem
            from meter_address_normalised n
            join flows.escos e on e.id = n.esco
           group by n.address, n.port
          having count(*) > 1) c;
  if clash is not null then
    raise exception 'two flows.meter_registry rows address one meter: %', clash
      using errcode = '23505',
            hint = 'Set the right ip_address or port of one of them (or remove it), then migrate again.';
  end if;

  update flows.meter_registry m set ip_address = n.address
    from meter_address_normalised n
   where n.id = m.id and m.ip_address <> n.address;
  drop table meter_address_normalised;
end
$$;

alter table flows.meter_registry drop constraint if exists meter_registry_ip_address_single_host;
alter table flows.meter_registry add constraint meter_registry_ip_address_single_host check (
  masklen(ip_address) = case family(ip_address) when 4 then 32 else 128 end
  and not ip_address << '::ffff:0.0.0.0/96'::inet
);

-- 2. A bank statement file's hash is unique per ESCO, not across ESCOs. A service supplies the hash itself, so a
-- global key let one ESCO claim another's file in advance and told it that another ESCO had imported a file.
-- Two ESCOs can never book a statement to the same bank account (IBAN and sort code + account number are unique).
alter table public.bank_statements
  drop constraint if exists bank_statements_file_sha256_file_position_key,
  drop constraint if exists bank_statements_esco_file_sha256_file_position_key,
  add constraint bank_statements_esco_file_sha256_file_position_key unique (esco, file_sha256, file_position);
