-- Payments (issue 7): grants, row-level security and comments of the ESCO bank accounts, bank statements and
-- their lines, payments and refunds; the payment link of public.topups. Statements and their lines are written
-- only through the import (public.bank_import_statement / internal.bank_import) and matching functions; nobody
-- inserts them directly. docs/security.md has the matrix; docs/payments.md the rules.

-- public.esco_bank_accounts ---------------------------------------------------------------------------------

grant select on public.esco_bank_accounts to operator, service, worker;
grant insert (esco, name, iban, sort_code, account_number, currency) on public.esco_bank_accounts to operator;
grant update (name) on public.esco_bank_accounts to operator;
grant delete on public.esco_bank_accounts to operator;

create policy select_as_operator on public.esco_bank_accounts for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy insert_as_operator on public.esco_bank_accounts for insert to operator
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy update_as_operator on public.esco_bank_accounts for update to operator
  using (esco = any ((select internal.operator_escos())::uuid[]))
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy delete_as_operator on public.esco_bank_accounts for delete to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_service on public.esco_bank_accounts for select to service
  using (esco = any ((select internal.service_escos())::uuid[]));
create policy select_as_worker on public.esco_bank_accounts for select to worker using (true);

comment on table public.esco_bank_accounts is $$An ESCO's bank accounts: statements are accepted only for these.
A statement for an account that the importing ESCO does not own is refused, so one ESCO's money never lands in another's books.$$;
comment on column public.esco_bank_accounts.id is 'Bank account id.';
comment on column public.esco_bank_accounts.esco is 'The ESCO that owns the account.';
comment on column public.esco_bank_accounts.name is 'Display name (e.g. "Client account").';
comment on column public.esco_bank_accounts.iban is 'IBAN, upper case without spaces; unique.';
comment on column public.esco_bank_accounts.sort_code is 'UK sort code, six digits (with account_number).';
comment on column public.esco_bank_accounts.account_number is 'UK account number, eight digits (with sort_code).';
comment on column public.esco_bank_accounts.currency is 'The account currency (ISO 4217); statements in another currency are refused.';
comment on column public.esco_bank_accounts.created_at is 'When the account was added.';

-- public.bank_statements -------------------------------------------------------------------------------------

grant select on public.bank_statements to operator, service, worker;

create policy select_as_operator on public.bank_statements for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_service on public.bank_statements for select to service
  using (esco = any ((select internal.service_escos())::uuid[]));
create policy select_as_worker on public.bank_statements for select to worker using (true);

comment on table public.bank_statements is $$Imported bank statements (camt.053, bank CSV), one row per statement of a file.
Written by public.bank_import_statement; a file is identified by its SHA-256, so importing it again is a no-op.$$;
comment on column public.bank_statements.id is 'Statement id.';
comment on column public.bank_statements.esco is 'The ESCO that owns the bank account.';
comment on column public.bank_statements.bank_account is 'The ESCO bank account the statement is for.';
comment on column public.bank_statements.format is 'camt.053, csv or ofx.';
comment on column public.bank_statements.format_version is 'camt.053.001.NN, or the CSV profile name.';
comment on column public.bank_statements.file_sha256 is 'SHA-256 (hex) of the imported file: re-importing the same file is a no-op.';
comment on column public.bank_statements.file_position is 'Position of the statement in its file (a camt.053 file may hold several).';
comment on column public.bank_statements.file_name is 'The file name given at import.';
comment on column public.bank_statements.statement_ref is 'The bank''s statement identification (camt.053 Stmt/Id).';
comment on column public.bank_statements.period_from is 'First day the statement covers.';
comment on column public.bank_statements.period_to is 'Last day the statement covers.';
comment on column public.bank_statements.currency is 'Statement currency (ISO 4217).';
comment on column public.bank_statements.opening_balance is 'Opening booked balance (OPBD/PRCD).';
comment on column public.bank_statements.closing_balance is 'Closing booked balance (CLBD): opening + booked entries.';
comment on column public.bank_statements.entry_count is 'Lines stored from this statement.';
comment on column public.bank_statements.imported_at is 'When it was imported.';
comment on column public.bank_statements.imported_by is 'Who imported it (JWT subject, or the CLI user).';

-- public.bank_transactions -----------------------------------------------------------------------------------

grant select on public.bank_transactions to operator, service, worker;

create policy select_as_operator on public.bank_transactions for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_service on public.bank_transactions for select to service
  using (esco = any ((select internal.service_escos())::uuid[]));
create policy select_as_worker on public.bank_transactions for select to worker using (true);

comment on table public.bank_transactions is $$Bank statement lines (one per transaction detail of a camt.053 entry, one per CSV row).
status: unmatched (a credit waiting for matching or review), matched (became a payment), ignored (an operator's decision, with a reason), debit (money out: recorded, never matched to invoices), pending (not booked yet).$$;
comment on column public.bank_transactions.id is 'Line id.';
comment on column public.bank_transactions.esco is 'The ESCO that owns the bank account.';
comment on column public.bank_transactions.statement is 'The statement it came from.';
comment on column public.bank_transactions.bank_account is 'The ESCO bank account.';
comment on column public.bank_transactions.identity is 'Unique per bank account: ref:<bank reference> where the bank gives a unique one, else fp:<fingerprint>.';
comment on column public.bank_transactions.position is 'Position of the line in its statement (1-based).';
comment on column public.bank_transactions.entry_reference is 'The bank''s entry reference (AcctSvcrRef), when given.';
comment on column public.bank_transactions.booking_date is 'Booking date.';
comment on column public.bank_transactions.value_date is 'Value date.';
comment on column public.bank_transactions.booked is 'Whether the entry is booked (pending entries are left out of the balance check).';
comment on column public.bank_transactions.amount is 'Signed amount: credits (money in) positive, debits negative.';
comment on column public.bank_transactions.currency is 'Currency (ISO 4217).';
comment on column public.bank_transactions.reversal is 'The bank reversed an earlier entry (camt.053 RvslInd).';
comment on column public.bank_transactions.bank_transaction_code is 'The bank transaction code (domain/family/sub-family or proprietary), or the CSV type.';
comment on column public.bank_transactions.counterparty_name is 'Payer (credits) or payee (debits) name.';
comment on column public.bank_transactions.counterparty_account is 'Payer or payee account (IBAN or sort code and number).';
comment on column public.bank_transactions.remittance_information is 'Remittance information (the payer''s reference text).';
comment on column public.bank_transactions.end_to_end_id is 'End-to-end id, when the payer gave one.';
comment on column public.bank_transactions.status is 'unmatched, matched, ignored, debit or pending.';
comment on column public.bank_transactions.match_rule is 'The rule that matched it (docs/payments.md): reference, amount_name, unique_amount, manual; on a debit, reversal (a returned payment it reversed).';
comment on column public.bank_transactions.matched_account is 'The account it was matched to (a reversal: whose payment it returned).';
comment on column public.bank_transactions.payment is 'The payment it became.';
comment on column public.bank_transactions.ignore_reason is 'Why an operator ignored it.';
comment on column public.bank_transactions.decided_by is 'Who matched or ignored it by hand (JWT subject), or the rule engine.';
comment on column public.bank_transactions.decided_at is 'When it was matched or ignored.';
comment on column public.bank_transactions.created_at is 'When it was imported.';

-- public.payments ------------------------------------------------------------------------------------------------

grant select on public.payments to customer, operator, service, worker;

create policy select_as_customer on public.payments for select to customer
  using (account = any ((select internal.customer_account_ids())::uuid[]));
create policy select_as_operator on public.payments for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_service on public.payments for select to service
  using (esco = any ((select internal.service_escos())::uuid[]));
create policy select_as_worker on public.payments for select to worker using (true);

comment on table public.payments is $$Money received for an account: bank transfer, card, direct debit or cash.
source is unique (bank:<line id>, stripe:<payment intent id>…), so a statement line or a provider event becomes at most one payment.$$;
comment on column public.payments.id is 'Payment id.';
comment on column public.payments.esco is 'ESCO of the account.';
comment on column public.payments.account is 'The account paid.';
comment on column public.payments.received_at is 'When the money was received (booking date for bank lines).';
comment on column public.payments.amount is 'Amount received, £.';
comment on column public.payments.currency is 'Currency (ISO 4217).';
comment on column public.payments.method is 'bank_transfer, card, direct_debit or cash.';
comment on column public.payments.reference is 'The payer''s reference text.';
comment on column public.payments.source is 'Where it came from; unique: bank:<bank line id>, stripe:<payment intent id>.';
comment on column public.payments.status is 'received, allocated, refunded or failed.';
comment on column public.payments.match_rule is 'For bank payments, the matching rule that produced it.';
comment on column public.payments.created_at is 'When the row was written.';

-- public.refunds -------------------------------------------------------------------------------------------------

grant select on public.refunds to customer, operator, worker;
-- operators ask for refunds through public.refund_request (sql/460_payments_refunds.sql), which also debits the ledger

create policy select_as_customer on public.refunds for select to customer
  using (account = any ((select internal.customer_account_ids())::uuid[]));
create policy select_as_operator on public.refunds for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_worker on public.refunds for select to worker using (true);

comment on table public.refunds is 'Money paid back to an account holder: card refunds from the provider, payments the bank returned, credit at move-out, and refunds operators ask for (public.refund_request).';
comment on column public.refunds.id is 'Refund id.';
comment on column public.refunds.esco is 'ESCO of the account.';
comment on column public.refunds.account is 'The account refunded.';
comment on column public.refunds.payment is 'The payment refunded, when there is one.';
comment on column public.refunds.amount is 'Amount refunded, £.';
comment on column public.refunds.reason is 'Why.';
comment on column public.refunds.source is 'What reported it, unique: stripe:<charge id>:<amount refunded> (card refund), bank:<debit line id> (a returned payment), billing:<invoice id> (credit at move-out); null for an operator''s refund_request.';
comment on column public.refunds.status is 'requested, paid or cancelled.';
comment on column public.refunds.requested_at is 'When it was requested.';
comment on column public.refunds.paid_at is 'When the money left.';
comment on column public.refunds.cancel_reason is 'Why it was cancelled.';
comment on column public.ledger_entries.refund is 'The refund this entry debits (kind refund) or gives back (adjustment, when cancelled).';

comment on column public.topups.payment is 'The payment that bought the credit (card payments of prepay accounts).';

-- internal tables: written by SECURITY DEFINER functions only; no web role reads them.
comment on table internal.payment_webhook_events is 'Payment provider webhook events, once each (provider, event id), after signature verification.';
comment on table internal.payment_secrets is 'Payment secrets (webhook signing secrets). Read only by SECURITY DEFINER functions.';
