-- Schema usage and comments. Re-runnable: applied after every migrate (see src/db/migrate.ts).

grant usage on schema public to anon, customer, operator, service, worker, reporting;
grant usage on schema flows to anon, customer, operator, service, worker, reporting;
-- Web roles call the allow-listed claim helpers and internal.pre_request() as themselves.
grant usage on schema internal to anon, customer, operator, service, worker;

comment on schema public is 'Flows: customers, accounts, tariffs, billing, payments and notifications of energy communities.';
comment on schema flows is 'Flows metering: ESCOs, sites, feeders, meters, registers, shadows and half-hourly interval data.';
comment on schema internal is 'Helpers, SECURITY DEFINER functions and private tables; never exposed over REST.';
