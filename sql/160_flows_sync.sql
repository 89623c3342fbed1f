-- Meter sync and top-up delivery (issue 5): who may see and write public.topups, and the job that delivers
-- each new top-up (meters__topup, jobs/meters__topup.ts).

-- public.topups -----------------------------------------------------------------------------------------

grant select on public.topups to operator, worker;
-- reporting (BI, nothing personal or redeemable): not the token, which a meter would still take while it is
-- undelivered, nor its sequence or the delivery error
grant select (id, esco, account, meter, amount, status, attempts, meter_balance_before, meter_count_before,
              meter_balance_after, meter_count_after, requested_at, token_issued_at, sent_at, verified_at, failed_at,
              updated_at)
  on public.topups to reporting;
grant select (id, esco, account, meter, amount, token, status, requested_at, verified_at, failed_at)
  on public.topups to customer;
grant insert (esco, account, meter, amount) on public.topups to operator;
grant update (token, token_sequence, status, attempts, meter_balance_before, meter_count_before, meter_balance_after,
              meter_count_after, error, token_issued_at, sent_at, verified_at, failed_at, updated_at)
  on public.topups to worker;

create policy select_as_customer on public.topups for select to customer
  using (account = any ((select internal.customer_account_ids())::uuid[]));
create policy select_as_operator on public.topups for select to operator
  using (esco = any ((select internal.operator_escos())::uuid[]));
create policy insert_as_operator on public.topups for insert to operator
  with check (esco = any ((select internal.operator_escos())::uuid[]));
create policy select_as_worker on public.topups for select to worker using (true);
create policy update_as_worker on public.topups for update to worker using (true) with check (true);
create policy select_as_reporting on public.topups for select to reporting using (true);

comment on table public.topups is $$Prepay top-ups: credit sent to a meter as a 20-digit token, and whether the meter took it.
requested → token_issued → sent → verified, or failed (the money then stays on the account). Delivered by the meters__topup job, which never sends a token the meter may already have taken.$$;
comment on column public.topups.id is 'Top-up id.';
comment on column public.topups.esco is 'ESCO of the account and meter.';
comment on column public.topups.account is 'The account paying for the credit.';
comment on column public.topups.meter is 'The prepay meter credited.';
comment on column public.topups.amount is 'Credit, £ (whole pence).';
comment on column public.topups.token is 'The 20-digit token (single use, for this meter only).';
comment on column public.topups.token_sequence is 'The token''s sequence number for this meter (unique per meter).';
comment on column public.topups.status is 'requested, token_issued, sent, verified or failed.';
comment on column public.topups.attempts is 'Times the token was sent to the meter.';
comment on column public.topups.meter_balance_before is 'Meter balance (£) read just before the token was first sent.';
comment on column public.topups.meter_count_before is 'Meter monetary transaction count read just before the token was first sent.';
comment on column public.topups.meter_balance_after is 'Meter balance (£) read after the token was accepted.';
comment on column public.topups.meter_count_after is 'Meter monetary transaction count read after the token was accepted.';
comment on column public.topups.error is 'Why the top-up failed (no secrets).';
comment on column public.topups.requested_at is 'When the top-up was requested.';
comment on column public.topups.token_issued_at is 'When the token was issued.';
comment on column public.topups.sent_at is 'When the meter acknowledged the token.';
comment on column public.topups.verified_at is 'When the meter''s balance and transaction count confirmed the credit.';
comment on column public.topups.failed_at is 'When the top-up was given up.';
comment on column public.topups.updated_at is 'When the row last changed.';

-- A new top-up is delivered by the worker: one job per top-up (the job key dedupes).
create or replace function internal.tg_topups__enqueue() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  perform internal.enqueue('meters__topup', json_build_object('topup_id', new.id), 'meters__topup:' || new.id);
  return null;
end
$$;
comment on function internal.tg_topups__enqueue() is 'Trigger: enqueues meters__topup for each new public.topups row.';
revoke all on function internal.tg_topups__enqueue() from public;

drop trigger if exists t10_enqueue on public.topups;
create trigger t10_enqueue after insert on public.topups
  for each row execute function internal.tg_topups__enqueue();
