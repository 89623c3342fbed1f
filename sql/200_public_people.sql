-- public people: customers, operators and operator ↔ ESCO membership.
-- Grants, row-level security, comments and triggers (docs/security.md). Policies are `<command>_as_<role>`;
-- migrate drops every policy and grant first, so this file only creates them.
-- A customer is the JWT `sub` = customers.auth_subject and may change only their contact details;
-- an operator's ESCOs come from public.operator_escos (internal.operator_escos()), checked per statement.

-- public.customers -----------------------------------------------------------------------------------

grant select on public.customers to customer, operator, worker;
-- A customer changes only their contact details and preferences: never auth_subject, status, esco or flags.
grant update (name, email, phone, contact_preferences) on public.customers to customer;
-- `esco` is writable on insert only: moving a customer to another ESCO would strand their accounts.
grant insert (esco, auth_subject, name, email, phone, contact_preferences, vulnerable, priority_services, status)
  on public.customers to operator;
grant update (auth_subject, name, email, phone, contact_preferences, vulnerable, priority_services, status)
  on public.customers to operator;
grant delete on public.customers to operator;

create policy select_as_customer on public.customers for select to customer
  using (auth_subject = (select internal.jwt_sub()));
create policy update_as_customer on public.customers for update to customer
  using (auth_subject = (select internal.jwt_sub()))
  with check (auth_subject = (select internal.jwt_sub()));
create policy select_as_operator on public.customers for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy insert_as_operator on public.customers for insert to operator
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy update_as_operator on public.customers for update to operator
  using (esco = any ((select internal.operator_escos())::uuid[]))
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy delete_as_operator on public.customers for delete to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_worker on public.customers for select to worker using (true);

comment on table public.customers is $$People supplied by an ESCO.
A customer signs in with the identity whose subject is auth_subject; they see their own row and may change
only name, email, phone and contact_preferences.$$;
comment on column public.customers.id is 'Customer id.';
comment on column public.customers.esco is 'The ESCO that supplies the customer (flows.escos.id).';
comment on column public.customers.auth_subject is 'Subject (JWT sub) of the customer''s login; unique. Null until they sign up.';
comment on column public.customers.name is 'Full name.';
comment on column public.customers.email is 'Contact email address.';
comment on column public.customers.phone is 'Contact phone number in E.164 form (+447700900123).';
comment on column public.customers.contact_preferences is 'How the customer wishes to be contacted (JSON object, e.g. {"email": true, "sms": false}).';
comment on column public.customers.vulnerable is 'Vulnerable customer: protected from disconnection and prioritised for support.';
comment on column public.customers.priority_services is 'On the priority services register.';
comment on column public.customers.status is 'active, inactive or closed.';
comment on column public.customers.created_at is 'When the customer record was created.';
comment on column public.customers.updated_at is 'When the customer record last changed (set by trigger).';

drop trigger if exists _100_timestamps on public.customers;
create trigger _100_timestamps before update on public.customers
  for each row execute function internal.tg_touch_updated_at();

-- public.operators and public.operator_escos -----------------------------------------------------------
-- Written by administrators (psql, as the owner); an operator reads only their own row and memberships.

grant select on public.operators, public.operator_escos to operator;

create policy select_as_operator on public.operators for select to operator
  using (auth_subject = (select internal.jwt_sub()));
create policy select_as_operator on public.operator_escos for select to operator
  using (operator in (select o.id from public.operators o where o.auth_subject = (select internal.jwt_sub())));

comment on table public.operators is $$Staff of one or more ESCOs.
An operator signs in with the identity whose subject is auth_subject; their ESCOs are the rows of public.operator_escos.$$;
comment on column public.operators.id is 'Operator id.';
comment on column public.operators.auth_subject is 'Subject (JWT sub) of the operator''s login; unique.';
comment on column public.operators.name is 'Full name.';
comment on column public.operators.email is 'Work email address.';
comment on column public.operators.created_at is 'When the operator was created.';

comment on table public.operator_escos is $$Operator ↔ ESCO membership: the source of truth for an operator's ESCOs.
Deleting a row revokes that operator's access to the ESCO at once, within the same token's lifetime.$$;
comment on column public.operator_escos.operator is 'The operator (public.operators.id).';
comment on column public.operator_escos.esco is 'The ESCO the operator manages (flows.escos.id).';
comment on column public.operator_escos.granted_at is 'When the membership was granted.';
