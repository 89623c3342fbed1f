-- flows views: endpoints over shadows, registry and interval data. All security_invoker, so the
-- caller's row-level security applies to every table they read.
-- Local days and months are Europe/London (days of 46 and 50 half-hours exist).

-- Shadow tariffs, flattened ------------------------------------------------------------------------------

create view flows.meter_shadows_tariffs with (security_invoker = true) as
select m.id, m.serial, m.esco,
       a.standing_charge as active_standing_charge,
       a.unit_rate_element_a as active_unit_rate_a,
       a.unit_rate_element_b as active_unit_rate_b,
       a.prepayment_ecredit_availability as active_ecredit_availability,
       a.prepayment_debt_recovery_rate as active_debt_recovery_rate,
       a.prepayment_emergency_credit as active_emergency_credit,
       a.threshold_mask as active_threshold_mask,
       a.threshold_values as active_threshold_values,
       f.standing_charge as future_standing_charge,
       f.unit_rate_element_a as future_unit_rate_a,
       f.unit_rate_element_b as future_unit_rate_b,
       f.prepayment_ecredit_availability as future_ecredit_availability,
       f.prepayment_debt_recovery_rate as future_debt_recovery_rate,
       f.prepayment_emergency_credit as future_emergency_credit,
       f.activation_datetime as future_activation_datetime,
       f.threshold_mask as future_threshold_mask,
       f.threshold_values as future_threshold_values,
       s.updated_at
  from flows.meter_registry m
  join flows.meter_shadows s on s.id = m.id
  left join lateral jsonb_to_record(s.tariffs_active) as a (
    standing_charge numeric, unit_rate_element_a numeric, unit_rate_element_b numeric,
    prepayment_ecredit_availability numeric, prepayment_debt_recovery_rate numeric,
    prepayment_emergency_credit numeric, threshold_mask jsonb, threshold_values jsonb) on true
  left join lateral jsonb_to_record(s.tariffs_future) as f (
    standing_charge numeric, unit_rate_element_a numeric, unit_rate_element_b numeric,
    prepayment_ecredit_availability numeric, prepayment_debt_recovery_rate numeric,
    prepayment_emergency_credit numeric, activation_datetime timestamptz, threshold_mask jsonb,
    threshold_values jsonb) on true;
grant select on flows.meter_shadows_tariffs to customer, operator, service, worker, reporting;

comment on view flows.meter_shadows_tariffs is $$The tariffs each meter reports (shadow tariffs_active and tariffs_future), one column per value.
Rates as the meter holds them: VAT-inclusive £/kWh and £/day, truncated to 5 dp.$$;
comment on column flows.meter_shadows_tariffs.id is 'Meter id.';
comment on column flows.meter_shadows_tariffs.serial is 'Meter serial.';
comment on column flows.meter_shadows_tariffs.esco is 'ESCO of the meter.';
comment on column flows.meter_shadows_tariffs.active_standing_charge is 'Active standing charge, £/day.';
comment on column flows.meter_shadows_tariffs.active_unit_rate_a is 'Active element A unit rate, £/kWh.';
comment on column flows.meter_shadows_tariffs.active_unit_rate_b is 'Active element B unit rate, £/kWh.';
comment on column flows.meter_shadows_tariffs.active_ecredit_availability is 'Active emergency-credit availability threshold, £.';
comment on column flows.meter_shadows_tariffs.active_debt_recovery_rate is 'Active debt recovery rate, £/day.';
comment on column flows.meter_shadows_tariffs.active_emergency_credit is 'Active emergency credit amount, £.';
comment on column flows.meter_shadows_tariffs.active_threshold_mask is 'Active threshold mask, as reported.';
comment on column flows.meter_shadows_tariffs.active_threshold_values is 'Active threshold values, as reported.';
comment on column flows.meter_shadows_tariffs.future_standing_charge is 'Future standing charge, £/day.';
comment on column flows.meter_shadows_tariffs.future_unit_rate_a is 'Future element A unit rate, £/kWh.';
comment on column flows.meter_shadows_tariffs.future_unit_rate_b is 'Future element B unit rate, £/kWh.';
comment on column flows.meter_shadows_tariffs.future_ecredit_availability is 'Future emergency-credit availability threshold, £.';
comment on column flows.meter_shadows_tariffs.future_debt_recovery_rate is 'Future debt recovery rate, £/day.';
comment on column flows.meter_shadows_tariffs.future_emergency_credit is 'Future emergency credit amount, £.';
comment on column flows.meter_shadows_tariffs.future_activation_datetime is 'When the meter activates the future tariff.';
comment on column flows.meter_shadows_tariffs.future_threshold_mask is 'Future threshold mask, as reported.';
comment on column flows.meter_shadows_tariffs.future_threshold_values is 'Future threshold values, as reported.';
comment on column flows.meter_shadows_tariffs.updated_at is 'When the shadow was last written.';

-- Meter watch lists -------------------------------------------------------------------------------------

create view flows.meters_low_balance with (security_invoker = true) as
select m.id, m.serial, m.name, m.esco, e.code as esco_code, s.balance, s.emergency_credit, s.balance_updated_at,
       e.low_balance_threshold_gbp as threshold_gbp
  from flows.meter_registry m
  join flows.meter_shadows s on s.id = m.id
  join flows.escos e on e.id = m.esco
 where m.prepay_enabled and s.balance < e.low_balance_threshold_gbp;
grant select on flows.meters_low_balance to customer, operator, service, worker, reporting;

comment on view flows.meters_low_balance is $$Prepay meters whose balance is below their ESCO's low-balance threshold (escos.low_balance_threshold_gbp).$$;
comment on column flows.meters_low_balance.id is 'Meter id.';
comment on column flows.meters_low_balance.serial is 'Meter serial.';
comment on column flows.meters_low_balance.name is 'Meter name.';
comment on column flows.meters_low_balance.esco is 'ESCO id.';
comment on column flows.meters_low_balance.esco_code is 'ESCO code.';
comment on column flows.meters_low_balance.balance is 'Balance the meter reports, £.';
comment on column flows.meters_low_balance.emergency_credit is 'Emergency credit in use, £.';
comment on column flows.meters_low_balance.balance_updated_at is 'When the balance last changed.';
comment on column flows.meters_low_balance.threshold_gbp is 'The ESCO''s threshold, £.';

create view flows.meters_offline_recently with (security_invoker = true) as
select m.id, m.serial, m.name, m.esco, e.code as esco_code, coalesce(s.last_healthy_at, m.created_at) as last_online,
       now() - coalesce(s.last_healthy_at, m.created_at) as offline_for
  from flows.meter_registry m
  join flows.meter_shadows s on s.id = m.id
  join flows.escos e on e.id = m.esco
 where m.mode = 'active'
   and coalesce(s.last_healthy_at, m.created_at) < now() - make_interval(hours => e.offline_after_hours);
grant select on flows.meters_offline_recently to customer, operator, service, worker, reporting;

comment on view flows.meters_offline_recently is $$Active meters no sync has found healthy for longer than their ESCO's offline_after_hours (a failed sync writes the shadow too, so its updated_at does not count).$$;
comment on column flows.meters_offline_recently.id is 'Meter id.';
comment on column flows.meters_offline_recently.serial is 'Meter serial.';
comment on column flows.meters_offline_recently.name is 'Meter name.';
comment on column flows.meters_offline_recently.esco is 'ESCO id.';
comment on column flows.meters_offline_recently.esco_code is 'ESCO code.';
comment on column flows.meters_offline_recently.last_online is 'When a sync last found the meter healthy (its registration, if never).';
comment on column flows.meters_offline_recently.offline_for is 'How long ago that was.';

create view flows.meters_clock_drift with (security_invoker = true) as
select m.id, m.serial, m.name, m.esco, e.code as esco_code, s.clock_time_diff_seconds,
       e.clock_drift_limit_seconds as limit_seconds, s.updated_at
  from flows.meter_registry m
  join flows.meter_shadows s on s.id = m.id
  join flows.escos e on e.id = m.esco
 where abs(s.clock_time_diff_seconds) > e.clock_drift_limit_seconds;
grant select on flows.meters_clock_drift to customer, operator, service, worker, reporting;

comment on view flows.meters_clock_drift is $$Meters whose clock is off by more than their ESCO's clock_drift_limit_seconds.$$;
comment on column flows.meters_clock_drift.id is 'Meter id.';
comment on column flows.meters_clock_drift.serial is 'Meter serial.';
comment on column flows.meters_clock_drift.name is 'Meter name.';
comment on column flows.meters_clock_drift.esco is 'ESCO id.';
comment on column flows.meters_clock_drift.esco_code is 'ESCO code.';
comment on column flows.meters_clock_drift.clock_time_diff_seconds is 'Meter clock minus true time, seconds.';
comment on column flows.meters_clock_drift.limit_seconds is 'The ESCO''s limit, seconds.';
comment on column flows.meters_clock_drift.updated_at is 'When the shadow was last updated.';

-- Circuit totals ----------------------------------------------------------------------------------------

create view flows.circuit_interval_hh with (security_invoker = true) as
select cr.circuit as circuit_id, i."timestamp",
       -- a register fitted the wrong way round measures import as export
       sum(case when r.direction_reversed then i.export_kwh else i.import_kwh end) as import_kwh,
       sum(case when r.direction_reversed then i.import_kwh else i.export_kwh end) as export_kwh
  from flows.circuit_register cr
  join flows.meter_registers r on r.register_id = cr.register
  join flows.register_interval_hh i
    on i.register_id = cr.register and i."timestamp" >= cr.start_time
   and (cr.end_time is null or i."timestamp" < cr.end_time)
 group by cr.circuit, i."timestamp";
grant select on flows.circuit_interval_hh to customer, operator, service, worker, reporting;

comment on view flows.circuit_interval_hh is $$Half-hourly energy per circuit: the sum over the registers mapped to the circuit at each half-hour (flows.circuit_register).$$;
comment on column flows.circuit_interval_hh.circuit_id is 'The circuit.';
comment on column flows.circuit_interval_hh."timestamp" is 'Start of the half-hour (UTC).';
comment on column flows.circuit_interval_hh.import_kwh is 'Energy imported, kWh.';
comment on column flows.circuit_interval_hh.export_kwh is 'Energy exported, kWh; null where not measured.';

create view flows.circuit_interval_daily with (security_invoker = true) as
select h.circuit_id, (h."timestamp" at time zone 'Europe/London')::date as day,
       sum(h.import_kwh) as total_import_kwh, sum(h.export_kwh) as total_export_kwh,
       count(*) as half_hours
  from flows.circuit_interval_hh h
 group by h.circuit_id, (h."timestamp" at time zone 'Europe/London')::date;
grant select on flows.circuit_interval_daily to customer, operator, service, worker, reporting;

comment on view flows.circuit_interval_daily is $$Daily energy per circuit, by Europe/London day (46, 48 or 50 half-hours).$$;
comment on column flows.circuit_interval_daily.circuit_id is 'The circuit.';
comment on column flows.circuit_interval_daily.day is 'Local (Europe/London) date.';
comment on column flows.circuit_interval_daily.total_import_kwh is 'Energy imported that day, kWh.';
comment on column flows.circuit_interval_daily.total_export_kwh is 'Energy exported that day, kWh.';
comment on column flows.circuit_interval_daily.half_hours is 'Half-hours with data that day.';

create view flows.circuit_interval_monthly with (security_invoker = true) as
select d.circuit_id, date_trunc('month', d.day)::date as month,
       sum(d.total_import_kwh) as total_import_kwh, sum(d.total_export_kwh) as total_export_kwh,
       ((date_trunc('month', d.day) + interval '1 month')::date - date_trunc('month', d.day)::date) as days_in_month,
       count(*) as days_with_data
  from flows.circuit_interval_daily d
 group by d.circuit_id, date_trunc('month', d.day);
grant select on flows.circuit_interval_monthly to customer, operator, service, worker, reporting;

comment on view flows.circuit_interval_monthly is $$Monthly energy per circuit, by Europe/London month.$$;
comment on column flows.circuit_interval_monthly.circuit_id is 'The circuit.';
comment on column flows.circuit_interval_monthly.month is 'First day of the local (Europe/London) month.';
comment on column flows.circuit_interval_monthly.total_import_kwh is 'Energy imported that month, kWh.';
comment on column flows.circuit_interval_monthly.total_export_kwh is 'Energy exported that month, kWh.';
comment on column flows.circuit_interval_monthly.days_in_month is 'Calendar days in the month.';
comment on column flows.circuit_interval_monthly.days_with_data is 'Days of the month with any data.';

-- Completeness ------------------------------------------------------------------------------------------

create view flows.register_interval_hh_completeness with (security_invoker = true) as
select r.register_id, d.day, x.expected_half_hours,
       coalesce(p.present_half_hours, 0) as present_half_hours,
       x.expected_half_hours - coalesce(p.present_half_hours, 0) as missing_half_hours,
       coalesce(p.estimated_half_hours, 0) as estimated_half_hours,
       coalesce(p.flagged_half_hours, 0) as flagged_half_hours
  from flows.meter_registers r
  -- every whole local day the register was in service up to yesterday, and any other day with data
  cross join lateral (
    select g::date as day
      from generate_series((r.start_time at time zone 'Europe/London')::date + 1,
                           (least(coalesce(r.end_time, now()), now()) at time zone 'Europe/London')::date - 1,
                           interval '1 day') g
    union
    select distinct (i."timestamp" at time zone 'Europe/London')::date
      from flows.register_interval_hh i
     where i.register_id = r.register_id
  ) d
  cross join lateral (
    select (extract(epoch from ((d.day + 1)::timestamp at time zone 'Europe/London'
                               - d.day::timestamp at time zone 'Europe/London')) / 1800)::integer as expected_half_hours
  ) x
  left join lateral (
    select count(*)::integer as present_half_hours,
           (count(*) filter (where i.quality = 'estimated'))::integer as estimated_half_hours,
           (count(*) filter (where cardinality(i.flags) > 0))::integer as flagged_half_hours
      from flows.register_interval_hh i
     where i.register_id = r.register_id
       and i."timestamp" >= d.day::timestamp at time zone 'Europe/London'
       and i."timestamp" < (d.day + 1)::timestamp at time zone 'Europe/London'
  ) p on true;
grant select on flows.register_interval_hh_completeness to customer, operator, service, worker, reporting;

comment on view flows.register_interval_hh_completeness is $$Interval-data completeness per register and local (Europe/London) day: expected half-hours (46, 48 or 50) against those present.
Lists every whole local day the register was in service up to yesterday (a day with no data at all shows
as missing all its half-hours), and any other day that has data.$$;
comment on column flows.register_interval_hh_completeness.register_id is 'The register.';
comment on column flows.register_interval_hh_completeness.day is 'Local (Europe/London) date.';
comment on column flows.register_interval_hh_completeness.expected_half_hours is 'Half-hours in the local day: 46 (clocks go forward), 48 or 50 (clocks go back).';
comment on column flows.register_interval_hh_completeness.present_half_hours is 'Half-hours with data.';
comment on column flows.register_interval_hh_completeness.missing_half_hours is 'expected_half_hours - present_half_hours.';
comment on column flows.register_interval_hh_completeness.estimated_half_hours is 'Half-hours whose value is estimated.';
comment on column flows.register_interval_hh_completeness.flagged_half_hours is 'Half-hours with a suspicious-read flag.';
