-- Up Migration
-- Interval data (issue 3, ingest benchmark): the half-hour alignment check of flows.register_interval_hh
-- becomes the UTC bin test that ingest already applies (internal.ingest_staged_intervals). The old form,
-- date_trunc('minute', …) and extract(minute from …), converted every row to the session's time zone:
-- about a tenth of the cost of inserting a row, and wrong in a zone whose offset is not a whole
-- half-hour. Every stored row came through ingest, so every row passes the new check.

alter table flows.register_interval_hh drop constraint register_interval_hh_timestamp_check;
alter table flows.register_interval_hh add constraint register_interval_hh_timestamp_check
  check ("timestamp" = date_bin('30 minutes', "timestamp", timestamptz '2000-01-01 00:00:00+00')) not valid;
alter table flows.register_interval_hh validate constraint register_interval_hh_timestamp_check;
