-- Billing tables: grants, row-level security and comments (docs/security.md, docs/billing.md).
-- Invoices, lines, runs and the ledger are written only through the billing functions (sql/320); web
-- roles read them: a customer their own accounts' issued documents, an operator their ESCOs'.

-- public.billing_settings ---------------------------------------------------------------------------------
-- The row is created with defaults by the first billing run of the ESCO (or by an administrator).

grant select on public.billing_settings to operator, worker;
grant update (legal_name, address, vat_registration, bank_details, payment_instructions, invoice_due_days,
              contact_email, contact_phone, community_credit_pence_per_kwp_year, prepay_drift_tolerance_gbp)
  on public.billing_settings to operator;

create policy select_as_operator on public.billing_settings for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy update_as_operator on public.billing_settings for update to operator
  using (esco = any ((select internal.operator_escos())::uuid[]))
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_worker on public.billing_settings for select to worker using (true);

comment on table public.billing_settings is $$An ESCO's billing details, printed on every invoice and statement.
Created with defaults (the ESCO's name) by its first billing run; operators edit it.$$;
comment on column public.billing_settings.esco is 'The ESCO (flows.escos.id).';
comment on column public.billing_settings.legal_name is 'Legal name printed on documents.';
comment on column public.billing_settings.address is 'Postal address printed on documents.';
comment on column public.billing_settings.vat_registration is 'VAT registration number (e.g. GB123456789), if registered.';
comment on column public.billing_settings.bank_details is 'Bank account details for payments (sort code, account number).';
comment on column public.billing_settings.payment_instructions is 'How to pay, printed with the payment reference.';
comment on column public.billing_settings.invoice_due_days is 'Days from issue to the due date.';
comment on column public.billing_settings.contact_email is 'Contact email printed on documents.';
comment on column public.billing_settings.contact_phone is 'Contact phone printed on documents.';
comment on column public.billing_settings.community_credit_pence_per_kwp_year is
  'Community solar credit, pence per kWp of allocated capacity per year (0 = none).';
comment on column public.billing_settings.prepay_drift_tolerance_gbp is
  'Prepay statements: a difference (£) between the computed cost and what the meter charged above this is flagged.';
comment on column public.billing_settings.updated_at is 'When the row was created.';

-- public.community_solar_allocations ------------------------------------------------------------------------

grant select on public.community_solar_allocations to operator, worker;
grant insert (esco, array_name, capacity_kwp, property, allocation_ratio) on public.community_solar_allocations to operator;
grant update (array_name, capacity_kwp, allocation_ratio) on public.community_solar_allocations to operator;
grant delete on public.community_solar_allocations to operator;

create policy select_as_operator on public.community_solar_allocations for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy insert_as_operator on public.community_solar_allocations for insert to operator
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy update_as_operator on public.community_solar_allocations for update to operator
  using (esco = any ((select internal.operator_escos())::uuid[]))
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy delete_as_operator on public.community_solar_allocations for delete to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_worker on public.community_solar_allocations for select to worker using (true);

comment on table public.community_solar_allocations is $$Community solar: an array's declared capacity (kWp) shared across properties.
The allocation ratios of one array sum to at most 1 (PT409 otherwise). Credit: docs/billing.md.$$;
comment on column public.community_solar_allocations.id is 'Allocation id.';
comment on column public.community_solar_allocations.esco is 'The ESCO (flows.escos.id).';
comment on column public.community_solar_allocations.array_name is 'The solar array, named within the ESCO.';
comment on column public.community_solar_allocations.capacity_kwp is 'Declared capacity of the array, kWp (the same on every row of the array).';
comment on column public.community_solar_allocations.property is 'The property credited (flows.properties.id).';
comment on column public.community_solar_allocations.allocation_ratio is 'Share of the array credited to the property (0–1].';

create or replace function internal.tg_community_solar_allocations__ratio() returns trigger
language plpgsql volatile
set search_path = ''
as $$
begin
  if (select sum(a.allocation_ratio) from public.community_solar_allocations a
       where a.esco = new.esco and a.array_name = new.array_name) > 1 then
    raise exception 'the allocation ratios of array % sum to more than 1', new.array_name
      using errcode = 'PT409', hint = 'Lower the other properties'' ratios first.';
  end if;
  return null;
end
$$;
comment on function internal.tg_community_solar_allocations__ratio() is
  'Trigger: the allocation ratios of one community solar array sum to at most 1.';
revoke all on function internal.tg_community_solar_allocations__ratio() from public;
drop trigger if exists _100_ratio on public.community_solar_allocations;
create constraint trigger _100_ratio after insert or update on public.community_solar_allocations
  for each row execute function internal.tg_community_solar_allocations__ratio();

-- public.billing_runs --------------------------------------------------------------------------------------

grant select on public.billing_runs to operator, worker;
create policy select_as_operator on public.billing_runs for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_worker on public.billing_runs for select to worker using (true);

comment on table public.billing_runs is $$Monthly billing runs: one per ESCO and calendar month (Europe/London).
Started by public.billing_run_start, worked by the billing__run job; counts show progress.$$;
comment on column public.billing_runs.id is 'Run id.';
comment on column public.billing_runs.esco is 'The ESCO billed (flows.escos.id).';
comment on column public.billing_runs.period_start is 'First day of the month billed; the period ends the day before the next month.';
comment on column public.billing_runs.status is 'queued, running, drafted (drafts ready to issue), issued or failed.';
comment on column public.billing_runs.accounts_total is 'Accounts supplied during the period.';
comment on column public.billing_runs.accounts_done is 'Accounts drafted (or already issued) in the current pass.';
comment on column public.billing_runs.invoices_drafted is 'Draft invoices and statements of the run.';
comment on column public.billing_runs.invoices_issued is 'Invoices and statements issued by public.billing_run_issue.';
comment on column public.billing_runs.errors is 'Accounts that could not be billed, with the reason: [{account, account_number, error}].';
comment on column public.billing_runs.bill_date is 'The bill date (Europe/London): the back-billing limit is 12 months before it.';
comment on column public.billing_runs.started_by is 'Who started the run (JWT sub, or the CLI).';
comment on column public.billing_runs.created_at is 'When the run was first requested.';
comment on column public.billing_runs.started_at is 'When the current pass started.';
comment on column public.billing_runs.finished_at is 'When the current pass finished.';
comment on column public.billing_runs.aggregated_at is 'When the current pass aggregated the month''s interval data (its first step).';

-- public.invoices -------------------------------------------------------------------------------------------

grant select on public.invoices to customer, operator, worker;
create policy select_as_customer on public.invoices for select to customer
  using (account = any ((select internal.customer_account_ids())::uuid[]) and status <> 'draft');
create policy select_as_operator on public.invoices for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_worker on public.invoices for select to worker using (true);

comment on table public.invoices is $$Invoices (credit accounts), statements (prepay accounts) and credit notes.
draft → issued → paid | partially_paid, or void (by a credit note). Numbers are assigned at issue, gap-free per ESCO
and kind. Amounts are signed (credits negative): total = supply_subtotal + vat + export_credit + community_credit.
Customers see their accounts' issued documents only.$$;
comment on column public.invoices.id is 'Invoice id.';
comment on column public.invoices.esco is 'The ESCO (flows.escos.id).';
comment on column public.invoices.account is 'The account billed (public.accounts.id).';
comment on column public.invoices.run is 'The billing run that drafted it, if any.';
comment on column public.invoices.kind is 'invoice (credit account), statement (prepay account) or credit_note.';
comment on column public.invoices.status is 'draft, issued, paid, partially_paid or void.';
comment on column public.invoices.number is 'Document number, assigned at issue: <ESCO>-INV|STM|CRN-000001, gap-free per ESCO and kind.';
comment on column public.invoices.period_start is 'First day billed (Europe/London).';
comment on column public.invoices.period_end is 'Day after the last day billed (exclusive).';
comment on column public.invoices.is_final is 'Final bill: the account''s supply ended in the period (move-out).';
comment on column public.invoices.estimated is 'Some consumption was estimated (missing half-hours); a later bill trues it up.';
comment on column public.invoices.vat_rate_pct is 'The account''s VAT rate (%) when drafted.';
comment on column public.invoices.supply_subtotal is 'Sum of the supply lines (standing, unit, adjustments), £, before VAT.';
comment on column public.invoices.vat is 'VAT: round(vat_rate_pct/100 × supply_subtotal, 2).';
comment on column public.invoices.export_credit is 'Export credit, £ (negative), outside VAT.';
comment on column public.invoices.community_credit is 'Community solar credit, £ (negative), outside VAT.';
comment on column public.invoices.total is 'Total of the bill, £: supply_subtotal + vat + export_credit + community_credit + meter_credit.';
comment on column public.invoices.meter_credit is
  'Final prepay statements: credit left on the meter at move-out that the ledger did not hold yet, £ (negative), outside VAT.';
comment on column public.invoices.balance_brought_forward is
  'Final bills: the account''s ledger balance before this bill, £ (negative = credit carried to it); not part of total.';
comment on column public.invoices.amount_due is
  'total + balance_brought_forward, £: on a final bill, what the account owes (negative: the credit refunded to it).';
comment on column public.invoices.meter_charged_gbp is 'Statements: what the meter deducted over the period (balance movement plus top-ups).';
comment on column public.invoices.drift_gbp is 'Statements: total − meter_charged_gbp.';
comment on column public.invoices.drift_flagged is 'Statements: |drift_gbp| above the ESCO''s tolerance.';
comment on column public.invoices.replaces is 'The voided invoice this one rebills.';
comment on column public.invoices.credits is 'Credit notes: the invoice it voids.';
comment on column public.invoices.void_reason is 'Why it was voided.';
comment on column public.invoices.disputed is 'Under dispute (public.invoice_dispute).';
comment on column public.invoices.dispute_reason is 'The reason given for the dispute.';
comment on column public.invoices.disputed_at is 'When the dispute was raised.';
comment on column public.invoices.dispute_resolution is 'How the last dispute was resolved.';
comment on column public.invoices.dispute_resolved_at is 'When the last dispute was resolved.';
comment on column public.invoices.issued_at is 'When it was issued.';
comment on column public.invoices.due_date is 'Payment due date (issue day + the ESCO''s invoice_due_days).';
comment on column public.invoices.created_at is 'When the draft was made.';

-- public.invoice_lines --------------------------------------------------------------------------------------

grant select on public.invoice_lines to customer, operator, worker;
create policy select_as_customer on public.invoice_lines for select to customer
  using (invoice in (select i.id from public.invoices i));
create policy select_as_operator on public.invoice_lines for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_worker on public.invoice_lines for select to worker using (true);

comment on table public.invoice_lines is $$The typed lines of an invoice, each rounded to the penny once, with the inputs it used.
standing_charge (days), unit_charge (kWh per element), export_credit, community_credit, adjustment (true-ups,
back-billing limit). inputs names the rule, registers, interval range, estimates and tariffs.$$;
comment on column public.invoice_lines.id is 'Line id.';
comment on column public.invoice_lines.invoice is 'The invoice (public.invoices.id).';
comment on column public.invoice_lines.esco is 'The ESCO (flows.escos.id).';
comment on column public.invoice_lines.position is 'Order on the document.';
comment on column public.invoice_lines.line_type is
  'standing_charge, unit_charge, export_credit, community_credit, adjustment; on final bills meter_credit and account_balance (not in the total).';
comment on column public.invoice_lines.element is 'Register element (A, B, SINGLE) for unit charges and their adjustments.';
comment on column public.invoice_lines.description is 'What the line is, as printed.';
comment on column public.invoice_lines.quantity is 'Days or kWh.';
comment on column public.invoice_lines.unit is 'day, kWh or item.';
comment on column public.invoice_lines.unit_price is 'Price per unit, £, excluding VAT (5 dp).';
comment on column public.invoice_lines.amount is 'round(quantity × unit_price, 2), signed (credits negative).';
comment on column public.invoice_lines.from_date is 'First day covered.';
comment on column public.invoice_lines.to_date is 'Day after the last day covered.';
comment on column public.invoice_lines.estimated is 'Includes estimated consumption.';
comment on column public.invoice_lines.tariff is 'The ESCO tariff in force (public.microgrid_tariffs.id).';
comment on column public.invoice_lines.customer_tariff is 'The customer tariff in force, if any (public.customer_tariffs.id).';
comment on column public.invoice_lines.inputs is 'The inputs: rule, registers, interval range, half-hours expected/present, estimates, true-ups.';

-- public.ledger_entries ---------------------------------------------------------------------------------------

grant select on public.ledger_entries to customer, operator, worker;
create policy select_as_customer on public.ledger_entries for select to customer
  using (account = any ((select internal.customer_account_ids())::uuid[]));
create policy select_as_operator on public.ledger_entries for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_worker on public.ledger_entries for select to worker using (true);

comment on table public.ledger_entries is $$One ledger per account: issued invoices and statements debit (positive);
payments, top-ups and credit notes credit (negative). The account balance is the sum of its entries.$$;
comment on column public.ledger_entries.id is 'Entry id.';
comment on column public.ledger_entries.esco is 'The ESCO (flows.escos.id).';
comment on column public.ledger_entries.account is 'The account (public.accounts.id).';
comment on column public.ledger_entries.at is 'When the entry was made.';
comment on column public.ledger_entries.kind is 'invoice, statement, credit_note, payment, topup, refund (a refund an operator asked for) or adjustment (e.g. a refund due at move-out, a cancelled refund given back).';
comment on column public.ledger_entries.amount is '£, positive = debit (owed), negative = credit.';
comment on column public.ledger_entries.invoice is 'The invoice, statement or credit note, if any.';
comment on column public.ledger_entries.description is 'What the entry is.';

-- internal tables: written by the definer functions of sql/320 only --------------------------------------------
comment on table internal.invoice_number_series is 'Gap-free document numbers: the last number used per ESCO and kind.';
comment on table internal.invoice_documents is 'Rendered invoice documents (HTML and PDF), stored when issued.';
comment on table internal.billing_estimates is 'Estimated register-days charged on issued bills, and the bill that trued each up.';
comment on column internal.billing_estimates.estimated_kwh is 'kWh estimated for the missing half-hours of the interval.';
comment on column internal.billing_estimates.present_kwh is
  'kWh of the half-hours present in the interval when it was billed: billed = present_kwh + estimated_kwh.';
comment on column internal.billing_estimates.interval_from is
  'Start of the interval estimated: the local day, within the register''s validity window (a meter exchange cuts it).';
comment on column internal.billing_estimates.interval_to is 'End of the interval estimated (exclusive).';
comment on column internal.billing_estimates.trued_up_by is
  'The issued bill that trued it up (docs/billing.md, rule 5); null while open. Voiding that bill reopens it.';

-- Issuing records each estimated register-day of a bill's unit lines (internal.issue_invoices); the rest of the
-- row — the interval, the kWh present then, and the bill that trued it up already when a rebill carries an
-- estimate as billed — comes from the line's inputs.estimates entry (internal.billing_compute). A row not made
-- from a line gets the local day within the register's window and the kWh present in it now.
create or replace function internal.tg_billing_estimates__as_billed() returns trigger
language plpgsql volatile
set search_path = ''
as $$
declare
  x jsonb;
begin
  select e into x
    from public.invoice_lines l
    cross join lateral jsonb_array_elements(l.inputs -> 'estimates') e
   where l.invoice = new.invoice and l.line_type = 'unit_charge' and jsonb_typeof(l.inputs -> 'estimates') = 'array'
     and e ->> 'register_id' = new.register_id::text and (e ->> 'day')::date = new.day
   limit 1;
  new.interval_from := coalesce(new.interval_from, (x ->> 'interval_from')::timestamptz);
  new.interval_to := coalesce(new.interval_to, (x ->> 'interval_to')::timestamptz);
  if new.interval_from is null or new.interval_to is null then
    select greatest(internal.london_midnight(new.day), coalesce(r.start_time, '-infinity')),
           least(internal.london_midnight(new.day + 1), coalesce(r.end_time, 'infinity'))
      into new.interval_from, new.interval_to
      from (select 1) one
      left join flows.meter_registers r on r.register_id = new.register_id;
  end if;
  new.present_kwh := coalesce(new.present_kwh, (x ->> 'present_kwh')::numeric,
                              (select coalesce(sum(i.import_kwh), 0) from internal.billing_interval_hh i
                                where i.register_id = new.register_id and i."timestamp" >= new.interval_from
                                  and i."timestamp" < new.interval_to));
  -- carried as billed from a voided bill: trued up by the bill that trued the original up, if that one stands
  if new.trued_up_by is null and x ? 'trued_up_by' then
    select t.id into new.trued_up_by from public.invoices t
     where t.id = (x ->> 'trued_up_by')::uuid and t.status not in ('draft', 'void');
  end if;
  return new;
end
$$;
comment on function internal.tg_billing_estimates__as_billed() is
  'Trigger: an estimated register-day records the interval, the kWh present when billed and any true-up, from its line.';
revoke all on function internal.tg_billing_estimates__as_billed() from public;
drop trigger if exists t10_as_billed on internal.billing_estimates;
create trigger t10_as_billed before insert on internal.billing_estimates
  for each row execute function internal.tg_billing_estimates__as_billed();
comment on table internal.billing_events is $$Outbox of billing events (invoice_issued, invoice_voided) for the notifications issue:
it reads unprocessed rows and sets processed_at.$$;
grant select on internal.billing_events to worker;
grant update (processed_at) on internal.billing_events to worker;
create policy select_as_worker on internal.billing_events for select to worker using (true);
create policy update_as_worker on internal.billing_events for update to worker using (true) with check (true);
comment on table internal.billing_register_days is $$A billing run's interval data per register and Europe/London day of its month
(Σ import, Σ export, half-hours present), aggregated once when a pass starts and removed when it ends.$$;
