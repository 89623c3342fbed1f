-- Card payments (issue 7): the payment provider's webhooks (Stripe-shaped), verified in SQL, called by a service. The provider signs
-- the raw body: header `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, with the
-- secret in internal.payment_secrets ('stripe_webhook'). PostgREST passes the raw body as the single unnamed text
-- parameter (Content-Type: text/plain) and the headers in request.headers. Nothing is stored before the
-- signature and the timestamp tolerance (300 s) check out; each event id is handled once (an unknown_account one
-- is not used up: see below).

create or replace function internal.stripe_signature_valid(body text, header text, secret text, tolerance_s integer)
returns boolean
language plpgsql stable
set search_path = ''
as $$
declare
  t text;
  expected text;
  part text;
  ok boolean := false;
begin
  if header is null or secret is null or body is null then
    return false;
  end if;
  t := substring(header from '(?:^|,)\s*t=([0-9]{1,12})(?:,|$)');
  if t is null or abs(extract(epoch from now()) - t::bigint) > tolerance_s then
    return false;
  end if;
  expected := encode(extensions.hmac(convert_to(t || '.' || body, 'UTF8'), convert_to(secret, 'UTF8'), 'sha256'), 'hex');
  foreach part in array string_to_array(header, ',') loop
    if btrim(part) = 'v1=' || expected then
      ok := true;
    end if;
  end loop;
  return ok;
end
$$;
comment on function internal.stripe_signature_valid(text, text, text, integer) is
  'Whether a Stripe-style signature header signs the body (HMAC-SHA256 of "<t>.<body>") within the tolerance.';
revoke all on function internal.stripe_signature_valid(text, text, text, integer) from public;

-- The one rule for a payment's refunded status: its own refunds (card refunds, the bank returning it:
-- internal.refund_of_credit is false) that are not cancelled cover it. A refund of account credit that merely names
-- the payment (an operator's refund_request) does not count. Returns what those refunds leave of the payment.
create or replace function internal.payment_mark_refunded(payment_id uuid)
returns numeric
language plpgsql volatile
set search_path = ''
as $$
declare
  p public.payments;
  refunded numeric;
begin
  select x.* into p from public.payments x where x.id = payment_id;
  if not found then
    return null;
  end if;
  select coalesce(sum(r.amount), 0) into refunded
    from public.refunds r
   where r.payment = p.id and r.status <> 'cancelled' and not internal.refund_of_credit(r.source);
  if refunded >= p.amount and p.status in ('received', 'allocated') then
    update public.payments x set status = 'refunded' where x.id = p.id;
  end if;
  return greatest(p.amount - refunded, 0);
end
$$;
comment on function internal.payment_mark_refunded(uuid) is
  'Marks a payment refunded when its own refunds (not of credit, not cancelled) cover it; returns what they leave of it.';
revoke all on function internal.payment_mark_refunded(uuid) from public;

create or replace function public.payment_webhook(text)
returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  body text := $1;
  caller text := coalesce(nullif(current_setting('role', true), 'none'), session_user);
  headers jsonb := coalesce(nullif(current_setting('request.headers', true), ''), '{}')::jsonb;
  secret text;
  event jsonb;
  obj jsonb;
  v_event_id text;
  v_event_type text;
  acct public.accounts;
  account_id uuid;
  payment_id uuid;
  meter_id uuid;
  refund_id uuid;
  amount numeric;
  v_outcome text;
  is_new boolean;
begin
  select s.value into secret from internal.payment_secrets s where s.name = 'stripe_webhook';
  if secret is null then
    raise exception 'webhooks are not configured' using errcode = 'PT503', hint = 'Set internal.payment_secrets stripe_webhook.';
  end if;
  if not internal.stripe_signature_valid(body, headers ->> 'stripe-signature', secret, 300) then
    raise exception 'invalid or expired webhook signature' using errcode = 'PT401',
      hint = 'Sign "<t>.<raw body>" with HMAC-SHA256; t within 300 seconds.';
  end if;
  begin
    event := body::jsonb;
  exception when others then
    raise exception 'the webhook body is not JSON' using errcode = '22023';
  end;
  v_event_id := event ->> 'id';
  v_event_type := event ->> 'type';
  obj := event #> '{data,object}';
  if v_event_id is null or v_event_type is null or jsonb_typeof(obj) is distinct from 'object' then
    raise exception 'the event has no id, type or data.object' using errcode = '22023';
  end if;

  -- Once per event id: a redelivery only counts. Except an event whose account was not among the caller's ESCOs
  -- (unknown_account): it did nothing, so it is not used up: a delivery with the right ESCO's service token handles
  -- it as new. Concurrent deliveries queue on the event's row; an in-flight one is never 'received' once committed.
  insert into internal.payment_webhook_events as w (provider, event_id, event_type, outcome, payload)
  values ('stripe', v_event_id, v_event_type, 'received', event)
  on conflict (provider, event_id) do update
    set deliveries = w.deliveries + 1,
        outcome = case when w.outcome = 'unknown_account' then 'received' else w.outcome end,
        event_type = case when w.outcome = 'unknown_account' then excluded.event_type else w.event_type end,
        payload = case when w.outcome = 'unknown_account' then excluded.payload else w.payload end
  returning w.outcome = 'received' into is_new;
  if not is_new then
    return jsonb_build_object('event', v_event_id, 'status', 'duplicate');
  end if;

  -- The account: the payment intent's metadata (account_id), on the intent or the charge.
  begin
    account_id := coalesce(obj #>> '{metadata,account_id}', '')::uuid;
  exception when invalid_text_representation then
    account_id := null;
  end;
  select a.* into acct from public.accounts a
   where a.id = account_id and (caller <> 'service' or a.esco = any (internal.service_escos()));
  if not found and v_event_type in ('payment_intent.succeeded', 'charge.refunded') then
    update internal.payment_webhook_events set outcome = 'unknown_account'
     where provider = 'stripe' and payment_webhook_events.event_id = v_event_id;
    return jsonb_build_object('event', v_event_id, 'status', 'unknown_account');
  end if;

  if v_event_type = 'payment_intent.succeeded' then
    if coalesce(obj ->> 'amount_received', obj ->> 'amount', '') !~ '^[0-9]{1,10}$' or upper(obj ->> 'currency') <> 'GBP' then
      raise exception 'the payment intent has no amount in pence or is not in GBP' using errcode = '22023';
    end if;
    amount := coalesce(obj ->> 'amount_received', obj ->> 'amount')::numeric / 100;
    -- Serialised with the account's postings, as a charge.refunded is: a refund of this intent handled at the same
    -- time is either seen below or finds this payment itself.
    perform internal.lock_account_postings(array[acct.id]);
    insert into public.payments (esco, account, received_at, amount, currency, method, reference, source, status)
    values (acct.esco, acct.id, coalesce(to_timestamp((obj ->> 'created')::bigint), now()), amount, 'GBP', 'card',
            left(obj ->> 'description', 140), 'stripe:' || (obj ->> 'id'), 'received')
    on conflict (source) do nothing
    returning id into payment_id;
    v_outcome := case when payment_id is null then 'payment_exists' else 'payment_recorded' end;
    if payment_id is not null then
      -- The provider does not order its events: refunds of this intent that arrived first were recorded with no
      -- payment. They are this account's card refunds without one (looked up first: usually there are none) whose
      -- charge.refunded event names this intent. They are the payment's own: it pays only what they leave.
      if exists (select 1 from public.refunds r
                  where r.account = acct.id and r.payment is null and r.source like 'stripe:%') then
        update public.refunds r set payment = payment_id
         where r.account = acct.id and r.payment is null and r.source like 'stripe:%'
           and r.source in (select 'stripe:' || (e.payload #>> '{data,object,id}') || ':'
                                   || (e.payload #>> '{data,object,amount_refunded}')
                              from internal.payment_webhook_events e
                             where e.provider = 'stripe' and e.esco = acct.esco and e.event_type = 'charge.refunded'
                               and e.payload #>> '{data,object,payment_intent}' = obj ->> 'id');
      end if;
      amount := internal.payment_mark_refunded(payment_id);
      if amount = 0 then
        v_outcome := 'payment_refunded';
      end if;
    end if;
    -- A prepay account's payment becomes meter credit: the meter named in the metadata, else the prepay
    -- meter its current supply has; for what refunds left of it.
    if payment_id is not null and acct.billing_mode = 'prepay' and amount > 0 then
      select m.id into meter_id
        from flows.meter_registry m
       where m.esco = acct.esco
         and (m.id::text = obj #>> '{metadata,meter_id}'
              or (obj #>> '{metadata,meter_id}' is null and m.id in (
                    select pm.meter
                      from public.account_supplies s
                      join flows.property_meters pm on pm.property = s.property
                     where s.account = acct.id
                       and s.start_date <= (now() at time zone 'Europe/London')::date
                       and (s.end_date is null or s.end_date > (now() at time zone 'Europe/London')::date))))
       order by m.id
       limit 1;
      if meter_id is not null and amount < 10000 then
        insert into public.topups (esco, account, meter, amount, payment) values (acct.esco, acct.id, meter_id, amount, payment_id);
        v_outcome := 'topup_requested';
      else
        v_outcome := 'credit_no_meter';
      end if;
    end if;
    if payment_id is not null then
      -- ledger credit; what its own refunds left pays the open invoices
      perform internal.payments_post(array[acct.id]);
    end if;
  elsif v_event_type = 'charge.refunded' then
    if coalesce(obj ->> 'amount_refunded', '') !~ '^[0-9]{1,10}$' then
      raise exception 'the charge has no amount_refunded in pence' using errcode = '22023';
    end if;
    if coalesce(obj ->> 'id', '') !~ '^[^:]{1,255}$' then
      raise exception 'the charge has no id' using errcode = '22023';
    end if;
    -- serialised with the account's postings (and with a payment_intent.succeeded of the same intent: above)
    perform internal.lock_account_postings(array[acct.id]);
    select p.id into payment_id from public.payments p
     where p.source = 'stripe:' || (obj ->> 'payment_intent') and p.account = acct.id;
    -- amount_refunded is cumulative per charge: refund what this charge's refunds recorded so far (source
    -- stripe:<charge id>:<amount refunded>, whether or not they found their payment) do not cover.
    amount := (obj ->> 'amount_refunded')::numeric / 100
              - coalesce((select sum(r.amount) from public.refunds r
                           where r.account = acct.id and starts_with(r.source, 'stripe:' || (obj ->> 'id') || ':')), 0);
    if amount > 0 then
      insert into public.refunds (esco, account, payment, amount, reason, source, status, paid_at)
      values (acct.esco, acct.id, payment_id, amount, 'card refund', 'stripe:' || (obj ->> 'id') || ':' || (obj ->> 'amount_refunded'),
              'paid', now())
      on conflict (source) do nothing
      returning id into refund_id;
    end if;
    if refund_id is not null then
      -- money back out: a debit on the account's ledger, naming the refund
      insert into public.ledger_entries (esco, account, kind, amount, refund, description)
      values (acct.esco, acct.id, 'adjustment', amount, refund_id, 'Card refund');
      -- Before its payment is recorded, the refund waits for it (payment_intent.succeeded above takes it off).
      if payment_id is not null then
        perform internal.payment_mark_refunded(payment_id);
        -- the refunded money no longer pays invoices; the account's other credit may pay them again
        perform internal.payments_release_refunded(array[payment_id]);
        perform internal.payments_post(array[acct.id]);
      end if;
      v_outcome := 'refund_recorded';
    else
      v_outcome := 'refund_exists';
    end if;
  elsif v_event_type = 'payment_intent.payment_failed' then
    v_outcome := 'payment_failed';
  else
    v_outcome := 'ignored';
  end if;

  update internal.payment_webhook_events w set outcome = v_outcome, esco = acct.esco
   where w.provider = 'stripe' and w.event_id = v_event_id;
  return jsonb_build_object('event', v_event_id, 'status', v_outcome, 'payment', payment_id);
end
$$;
comment on function public.payment_webhook(text) is $$Payment provider webhook (Stripe-shaped): POST the raw body as text/plain with the Stripe-Signature header.
Verifies the HMAC-SHA256 signature and a 300 s timestamp tolerance before storing anything; each event id is handled once (one that named an account outside the caller's ESCOs, unknown_account, is handled again on its next delivery). payment_intent.succeeded records a card payment (and a top-up for a prepay account) less the refunds of it that arrived first, charge.refunded a refund.$$;
revoke all on function public.payment_webhook(text) from public;
-- Not anon: web roles other than the documented few execute nothing without a token (docs/security.md). The
-- provider's request reaches PostgREST through a relay that adds a service token of the ESCO(s) (no secret in
-- the relay: the signature is still verified here); the service token's escos scope the accounts it may pay.
grant execute on function public.payment_webhook(text) to service;
