-- Up Migration
-- Matching settings per ESCO (issue 7): how alike a payer's name must be for rule 2, and how many days after an
-- invoice's due date rule 3 still takes a payment of its exact amount. Operators set them in their billing
-- settings; bank__reconcile reads them (grants and comments: sql/420_payments_matching.sql).

alter table public.billing_settings
  add column match_name_threshold numeric(3, 2) not null default 0.60
    check (match_name_threshold between 0 and 1),
  add column match_window_days integer not null default 45
    check (match_window_days between 0 and 366);
