// The fixture schema the REST tests run against (not Flows): clients, projects, tasks, users and a
// junction table, a view, assorted column types, and functions of every result shape.
import { quoteIdent } from '../../../src/db/client.ts';
import type { FixtureRoles } from './database.ts';

export function fixtureSql(roles: FixtureRoles): string {
  const anon = quoteIdent(roles.anon);
  const user = quoteIdent(roles.user);
  return `
create schema test;
comment on schema test is 'Fixture API
Tables and functions for the gateway tests';
create schema other;

create table test.clients (id int primary key, name text not null);
comment on table test.clients is 'Clients of the agency';
comment on column test.clients.name is 'Display name';
create table test.projects (id int primary key, name text not null, client_id int references test.clients (id));
create table test.tasks (id int primary key, name text not null, project_id int references test.projects (id));
create table test.users (id int primary key, name text not null);
create table test.users_tasks (
  user_id int references test.users (id), task_id int references test.tasks (id), primary key (user_id, task_id));
create table test.items (
  id serial primary key, name text, price numeric(10, 2), tags text[], data jsonb,
  qty int not null default 1, created date default '2024-01-01', body text);
create table test.pairs (a int, b int, label text, primary key (a, b));
create table test.profiles (client_id int primary key references test.clients (id), bio text);
create table test.messages (id int primary key, sender_id int references test.users (id),
  receiver_id int references test.users (id), body text);
create view test.projects_view as select id, name, client_id from test.projects;
create view test.tasks_renamed as
  select t.id as task_id, t.name as title, t.project_id as proj, (select 1) as one
  from test.tasks t join (select id as project_id, name from test.projects) p on p.project_id = t.project_id;
create view test.clients_renamed as select id as client_no, name as label from test.clients;
create view test.tasks_nested as select task_id, title, proj from test.tasks_renamed;
create table other.things (id int primary key, label text);
create table test.secrets (id int);
create table test.deferred (id int primary key, client_id int references test.clients (id) deferrable initially deferred);

insert into test.clients values (1, 'Microsoft'), (2, 'Apple'), (3, 'Google');
insert into test.projects values (1, 'Windows 7', 1), (2, 'Windows 10', 1), (3, 'IOS', 2), (4, 'OSX', 2), (5, 'Orphan', null);
insert into test.tasks values (1, 'Design w7', 1), (2, 'Code w7', 1), (3, 'Design w10', 2), (4, 'Code w10', 2), (5, 'Design IOS', 3);
insert into test.users values (1, 'Angela'), (2, 'Michael'), (3, 'Dwight');
insert into test.users_tasks values (1, 1), (1, 2), (2, 3), (3, 5);
insert into test.items (name, price, tags, data, body) values
  ('apple', 1.50, '{fruit,red}', '{"color": "red", "size": {"w": 3}, "list": [1, 2]}', 'the quick brown fox'),
  ('banana', 0.25, '{fruit,yellow}', '{"color": "yellow", "size": {"w": 5}}', 'jumps over the lazy dog'),
  ('carrot', null, '{vegetable}', null, null),
  ('date, dried', 3.00, '{}', '{"color": "brown"}', 'a "quoted" text');
insert into test.profiles values (1, 'Redmond');
insert into test.messages values (1, 1, 2, 'hi'), (2, 2, 1, 'hello');
insert into other.things values (1, 'other thing');

create function test.add(a int, b int default 10) returns int language sql immutable as 'select a + b';
comment on function test.add is 'Adds two numbers';
create function test.hello() returns text language sql stable as $$ select 'hi' $$;
create function test.get_projects(client int) returns setof test.projects language sql stable
  as 'select * from test.projects where client_id = client';
create function test.new_client(id int, name text) returns test.clients language sql volatile
  as 'insert into test.clients values (id, name) returning *';
create function test.noop() returns void language sql volatile as '';
create function test.echo_json(json) returns json language sql immutable as 'select $1';
create function test.shout_text(text) returns text language sql immutable as 'select upper($1)';
create function test.byte_length(bytea) returns int language sql immutable as 'select length($1)';
create domain test."application/pdf" as bytea;
create function test.pdf() returns test."application/pdf" language sql immutable as $$ select '\\x25504446ff'::bytea $$;
create domain test."text/html" as text;
create function test.page() returns test."text/html" language sql immutable as $$ select '<h1>hi</h1>' $$;
create function test.sum_all(variadic nums int[]) returns int language sql immutable as 'select sum(n)::int from unnest(nums) n';
create function test.ambiguous(a int) returns int language sql immutable as 'select a';
create function test.ambiguous(a text) returns text language sql immutable as 'select a';
create function test.out_params(a int, out x int, out y text) language sql immutable as $$ select a * 2, 'y' || a $$;
create function test.numbers() returns setof int language sql immutable as 'select generate_series(1, 3)';
create function test.table_result() returns table (n int, label text) language sql immutable
  as $$ select 1, 'one' union all select 2, 'two' $$;
create function test.raise_pt() returns void language plpgsql as $$
begin raise sqlstate 'PT402' using message = 'Payment Required', detail = 'Quota exceeded', hint = 'Upgrade'; end $$;
create function test.raise_pgrst() returns void language plpgsql as $$
begin raise sqlstate 'PGRST' using
  message = '{"code":"123","message":"ABC","details":"DEF","hint":"XYZ"}',
  detail = '{"status":332,"status_text":"My status","headers":{"X-Header":"str"}}'; end $$;
create function test.raise_plain() returns void language plpgsql as $$ begin raise exception 'plain failure'; end $$;
create function test.custom_response() returns json language plpgsql as $$
begin
  perform set_config('response.headers', '[{"Cache-Control":"no-cache"},{"Set-Cookie":"a=1"},{"Set-Cookie":"b=2"}]', true);
  perform set_config('response.status', '202', true);
  return '{"ok":true}';
end $$;
create function test.bad_headers() returns int language plpgsql as $$
begin perform set_config('response.headers', '{"not":"an array"}', true); return 1; end $$;
create function test.settings() returns json language sql stable as $$
  select json_build_object(
    'role', current_user, 'search_path', current_setting('search_path'),
    'claims', current_setting('request.jwt.claims', true)::json,
    'method', current_setting('request.method', true), 'path', current_setting('request.path', true),
    'headers', current_setting('request.headers', true)::json, 'cookies', current_setting('request.cookies', true)::json,
    'timezone', current_setting('timezone'), 'read_only', current_setting('transaction_read_only'),
    'isolation', current_setting('transaction_isolation'), 'app', current_setting('app.settings.greeting', true),
    'statement_timeout', current_setting('statement_timeout'))
$$;
create function test.write_volatile() returns int language sql volatile as 'insert into test.pairs values (99, 99) returning a';
create function test.sleep(seconds float) returns void language sql as 'select pg_sleep(seconds)';
create function test.serializable() returns text language sql volatile
  set default_transaction_isolation = 'serializable' as $$ select current_setting('transaction_isolation') $$;

grant usage on schema test, other to ${anon}, ${user};
grant select on all tables in schema test, other to ${anon};
grant all on all tables in schema test, other to ${user};
grant usage on all sequences in schema test to ${user};
revoke select on test.users_tasks from ${anon};
grant execute on all functions in schema test to ${anon}, ${user};
revoke all on test.secrets from ${anon}, ${user};
alter role ${user} set statement_timeout = '5s';

create function test.pre_request() returns void language plpgsql as $$
begin
  if current_setting('request.headers', true)::json->>'x-block' is not null then
    raise sqlstate 'PT403' using message = 'Blocked by pre-request';
  end if;
  perform set_config('response.headers', '[{"X-Pre-Request":"ran"}]', true);
end $$;
grant execute on function test.pre_request() to ${anon}, ${user};
`;
}
