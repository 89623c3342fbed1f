-- Up Migration
-- Refunds (issue 7): an operator asks for a refund through public.refund_request, which debits the account's
-- ledger with the refund (kind refund, linked to it); public.refund_cancel credits it back. Both entries name
-- their refund, once each.

alter table public.ledger_entries drop constraint ledger_entries_kind_check;
alter table public.ledger_entries add constraint ledger_entries_kind_check
  check (kind in ('invoice', 'statement', 'credit_note', 'payment', 'topup', 'adjustment', 'refund'));
alter table public.ledger_entries add column refund uuid;
alter table public.ledger_entries add constraint ledger_entries_refund_fkey
  foreign key (refund, esco) references public.refunds (id, esco);
alter table public.ledger_entries add constraint ledger_entries_refund_kind_key unique (refund, kind);
create index on public.ledger_entries (refund, esco);

alter table public.refunds add column cancel_reason text check (btrim(cancel_reason) <> '');
