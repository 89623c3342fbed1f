-- public accounts: accounts, customer ↔ account links and account supplies (move-in / move-out).
-- Grants, row-level security, comments and triggers (docs/security.md). Policies are `<command>_as_<role>`.
-- `esco` is writable on insert only; the with-check clauses and the composite (id, esco) foreign keys keep
-- every row inside the caller's ESCOs.

-- public.accounts ------------------------------------------------------------------------------------

grant select on public.accounts to customer, operator, service, worker;
grant insert (esco, account_number, billing_mode, payment_reference, vat_rate_pct, status, opened_on, closed_on)
  on public.accounts to operator;
grant update (account_number, billing_mode, payment_reference, vat_rate_pct, status, opened_on, closed_on)
  on public.accounts to operator;
grant delete on public.accounts to operator;

create policy select_as_customer on public.accounts for select to customer
  using (id = any ((select internal.customer_account_ids())::uuid[]));
create policy select_as_operator on public.accounts for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy insert_as_operator on public.accounts for insert to operator
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy update_as_operator on public.accounts for update to operator
  using (esco = any ((select internal.operator_escos())::uuid[]))
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy delete_as_operator on public.accounts for delete to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_service on public.accounts for select to service
  using (esco = any ((select internal.service_escos())::uuid[]));
create policy select_as_worker on public.accounts for select to worker using (true);

comment on table public.accounts is $$Billing accounts: what an ESCO bills or credits.
billing_mode credit = a monthly invoice; prepay = the meter holds credit, topped up. One ledger per account.$$;
comment on column public.accounts.id is 'Account id.';
comment on column public.accounts.esco is 'The ESCO that holds the account (flows.escos.id).';
comment on column public.accounts.account_number is 'Account number, unique within the ESCO.';
comment on column public.accounts.billing_mode is 'credit (monthly invoice) or prepay (meter credit and top-ups).';
comment on column public.accounts.payment_reference is 'Reference customers quote on bank payments; unique across ESCOs.';
comment on column public.accounts.vat_rate_pct is 'VAT rate (%) on supply charges; 5.00 for domestic supply. Stored on each invoice.';
comment on column public.accounts.status is 'open or closed.';
comment on column public.accounts.opened_on is 'Day the account opened.';
comment on column public.accounts.closed_on is 'Day the account closed; set exactly when status is closed.';

-- public.customer_accounts -----------------------------------------------------------------------------

grant select on public.customer_accounts to customer, operator, worker;
grant insert (customer, account, esco, role) on public.customer_accounts to operator;
grant update (role) on public.customer_accounts to operator;
grant delete on public.customer_accounts to operator;

create policy select_as_customer on public.customer_accounts for select to customer
  using (customer = (select internal.my_customer_id()));
create policy select_as_operator on public.customer_accounts for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy insert_as_operator on public.customer_accounts for insert to operator
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy update_as_operator on public.customer_accounts for update to operator
  using (esco = any ((select internal.operator_escos())::uuid[]))
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy delete_as_operator on public.customer_accounts for delete to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_worker on public.customer_accounts for select to worker using (true);

comment on table public.customer_accounts is 'Who is on which account, and as what: holder, occupant or payer.';
comment on column public.customer_accounts.customer is 'The customer (public.customers.id).';
comment on column public.customer_accounts.account is 'The account (public.accounts.id).';
comment on column public.customer_accounts.esco is 'The ESCO of both the customer and the account.';
comment on column public.customer_accounts.role is 'holder (contracted), occupant (lives there) or payer (pays the bills).';

-- public.account_supplies ------------------------------------------------------------------------------

grant select on public.account_supplies to customer, operator, worker;
grant insert (account, property, esco, start_date, end_date) on public.account_supplies to operator;
-- Move-out is an update of end_date; a supply never moves to another account or property.
grant update (start_date, end_date) on public.account_supplies to operator;
grant delete on public.account_supplies to operator;

create policy select_as_customer on public.account_supplies for select to customer
  using (account = any ((select internal.customer_account_ids())::uuid[]));
create policy select_as_operator on public.account_supplies for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy insert_as_operator on public.account_supplies for insert to operator
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy update_as_operator on public.account_supplies for update to operator
  using (esco = any ((select internal.operator_escos())::uuid[]))
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy delete_as_operator on public.account_supplies for delete to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_worker on public.account_supplies for select to worker using (true);

comment on table public.account_supplies is $$Which account a property is supplied to, and when (move-in / move-out).
Days are Europe/London days; start_date is inclusive, end_date exclusive (null = open-ended). No property is
supplied to two accounts on the same day: an overlapping supply is refused with PT409 (HTTP 409).$$;
comment on column public.account_supplies.id is 'Supply id.';
comment on column public.account_supplies.account is 'The account supplied (public.accounts.id).';
comment on column public.account_supplies.property is 'The property supplied (flows.properties.id).';
comment on column public.account_supplies.esco is 'The ESCO of both the account and the property.';
comment on column public.account_supplies.start_date is 'First day of supply (move-in), inclusive.';
comment on column public.account_supplies.end_date is 'Day after the last day of supply (move-out), exclusive; null while supplied.';

-- The exclusion constraint account_supplies_no_overlap is the guarantee (it also holds under concurrent
-- inserts, where it raises 23P01 ⇒ HTTP 400). This trigger only turns the common case into a clear 409.
create or replace function internal.tg_account_supplies__no_overlap() returns trigger
language plpgsql volatile
set search_path = ''
as $$
declare
  clash record;
begin
  -- the table's check (end_date > start_date) runs after this trigger; without this, the range below would fail
  -- first with a message that names neither date
  if new.end_date <= new.start_date then
    raise exception 'end_date % is not after start_date %', new.end_date, new.start_date
      using errcode = '23514',
            hint = 'end_date is exclusive: the day after the last day of supply (the move-out day), later than start_date.';
  end if;
  select s.start_date, s.end_date
    into clash
    from public.account_supplies s
   where s.property = new.property
     and s.id <> new.id
     and daterange(s.start_date, s.end_date, '[)') && daterange(new.start_date, new.end_date, '[)')
   order by s.start_date
   limit 1;
  if found then
    raise exception 'the property is already supplied from % to %',
        clash.start_date, coalesce(clash.end_date::text, 'open-ended')
      using errcode = 'PT409',
            detail = format('New supply %s to %s overlaps it.', new.start_date, coalesce(new.end_date::text, 'open-ended')),
            hint = 'End the current supply first (end_date is exclusive: the move-in day of the next supply).';
  end if;
  return new;
end
$$;
comment on function internal.tg_account_supplies__no_overlap() is
  'Trigger: refuses a supply that ends before it starts (23514) or overlaps another supply of the same property (PT409), with a hint.';
revoke all on function internal.tg_account_supplies__no_overlap() from public;

drop trigger if exists _100_no_overlap on public.account_supplies;
create trigger _100_no_overlap before insert or update of property, start_date, end_date on public.account_supplies
  for each row execute function internal.tg_account_supplies__no_overlap();
