// The isolation matrix (docs/security.md), generated over every table, view and function of the
// exposed schemas as the catalog lists them when the file loads: a new object is covered without
// touching this file, and a new table or function that the matrix, the insert builders or the
// function map below do not know is a failing test until it is added.
//
// ESCO A and ESCO B are built once (test/support/fixtures.ts). Every attempt runs through asRole in a
// transaction that is rolled back; its effect on rows the actor must not reach is checked in that same
// transaction as the superuser (`reset role`): none may disappear, none may be written (xmin).
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { many, quoteIdent } from '../../src/db/client.ts';
import { asRole, createTestDatabase } from '../support/database.ts';
import {
  buildFixtures,
  escoOf,
  findForbidden,
  findOwn,
  forbiddenMarkers,
  roleOf,
  type Actor,
  type CustomerKey,
  type EscoFixture,
  type Fixtures,
} from '../support/fixtures.ts';

type Row = Record<string, unknown>;
type WebRole = 'anon' | 'customer' | 'operator' | 'service';
type Role = WebRole | 'worker' | 'reporting';

interface Relation {
  name: string;
  kind: 'table' | 'view';
  columns: string[];
}

interface FunctionInfo {
  key: string;
  signature: string;
  returnsVoid: boolean;
  args: { name: string; type: string }[];
}

// Policy matrix: docs/security.md -----------------------------------------------------------------------
// Privileges (S, I, U, D) then the rows: `esco` the actor's ESCO(s), `own` the customer's own rows (their
// properties, meters, registers, readings within their supply periods), `self` the operator's own rows,
// `all` shared rows; `?` for views that docs/security.md does not list (only the leak checks apply).
// Views are left out of the grant comparison.

type Scope = 'esco' | 'own' | 'self' | 'all' | '?';
interface Access {
  privileges: string;
  scope: Scope;
}
type MatrixRow = Partial<Record<Role, string>> & { view?: true };

const topology: MatrixRow = { operator: 'SIUD esco', service: 'S esco', worker: 'S', reporting: 'S' };
const history: MatrixRow = {
  customer: 'S own',
  operator: 'S esco',
  service: 'S esco',
  worker: 'S',
  reporting: 'S',
};
const dictionary: MatrixRow = { operator: 'S all', service: 'S all', worker: 'S', reporting: 'S' };
const monitoringView: MatrixRow = {
  view: true,
  customer: '?',
  operator: 'S esco',
  service: 'S esco',
  worker: 'S',
  reporting: 'S',
};

const matrix: Record<string, MatrixRow> = {
  'flows.escos': {
    anon: 'S all',
    customer: 'S esco',
    operator: 'SU esco',
    service: 'S esco',
    worker: 'S',
    reporting: 'S',
  },
  'flows.sites_new': topology,
  'flows.feeder_registry': topology,
  'flows.service_head_registry': topology,
  'flows.circuits': topology,
  'flows.circuit_register': topology,
  'flows.properties_service_head': topology,
  'flows.service_head_meter': topology,
  'flows.properties': { ...topology, customer: 'S own' },
  'flows.meter_registry': { ...topology, customer: 'S own', worker: 'SU' },
  'flows.meter_registers': { ...topology, customer: 'S own' },
  'flows.meter_shadows': { ...history, worker: 'SU' },
  'flows.register_import': history,
  'flows.register_export': history,
  'flows.meter_prepay_balance': history,
  'flows.meter_csq': history,
  'flows.meter_voltage': history,
  'flows.meter_health_history': history,
  'flows.register_interval_hh': history,
  'flows.meter_event_log': { operator: 'S esco', service: 'S esco', worker: 'SI', reporting: 'S' },
  'flows.meter_event_log_type': dictionary,
  'flows.meter_metrics': dictionary,
  'flows.meter_sync_runs': { operator: 'S esco', worker: 'SIU', reporting: 'S' },
  'public.customers': { customer: 'SU own', operator: 'SIUD esco', worker: 'S' },
  'public.operators': { operator: 'S self' },
  'public.operator_escos': { operator: 'S self' },
  'public.accounts': { customer: 'S own', operator: 'SIUD esco', service: 'S esco', worker: 'S' },
  'public.customer_accounts': { customer: 'S own', operator: 'SIUD esco', worker: 'S' },
  'public.account_supplies': { customer: 'S own', operator: 'SIUD esco', worker: 'S' },
  'public.benchmark_tariffs': {
    customer: 'S all',
    operator: 'S all',
    service: 'S all',
    worker: 'S',
    reporting: 'S',
  },
  'public.microgrid_tariffs': {
    customer: 'S esco',
    operator: 'SIUD esco',
    service: 'S esco',
    worker: 'S',
    reporting: 'S',
  },
  'public.customer_tariffs': { customer: 'S own', operator: 'SIUD esco', worker: 'S' },
  // Billing (issue 6): documents are written only through the billing functions; customers see their issued ones.
  'public.billing_settings': { operator: 'SU esco', worker: 'S' },
  'public.community_solar_allocations': { operator: 'SIUD esco', worker: 'S' },
  'public.billing_runs': { operator: 'S esco', worker: 'S' },
  'public.invoices': { customer: 'S own', operator: 'S esco', worker: 'S' },
  'public.invoice_lines': { customer: 'S own', operator: 'S esco', worker: 'S' },
  'public.ledger_entries': { customer: 'S own', operator: 'S esco', worker: 'S' },
  // Not yet in docs/security.md (issue 5): a customer reads their accounts' top-ups, an operator requests them,
  // the worker delivers them.
  'public.topups': { customer: 'S own', operator: 'SI esco', worker: 'SU', reporting: 'S' },
  // Payments (issue 7): statements and their lines are written only through the import and matching functions.
  'public.esco_bank_accounts': { operator: 'SIUD esco', service: 'S esco', worker: 'S' },
  'public.bank_statements': { operator: 'S esco', service: 'S esco', worker: 'S' },
  'public.bank_transactions': { operator: 'S esco', service: 'S esco', worker: 'S' },
  'public.payments': { customer: 'S own', operator: 'S esco', service: 'S esco', worker: 'S' },
  'public.refunds': { customer: 'S own', operator: 'S esco', worker: 'S' },
  'public.payment_allocations': { customer: 'S own', operator: 'S esco', worker: 'S' },
  'public.bank_review_queue': { view: true, operator: 'S esco' },
  'public.aged_debt': { view: true, operator: 'S esco' },
  // Collections (issue 7): reminders are written only by internal.collections_remind (the daily job).
  'public.payment_reminders': { customer: 'S own', operator: 'S esco', worker: 'S' },
  // Notifications (issue 8): the outbox is written by events only (SECURITY DEFINER enqueue) and sent by the worker.
  'public.notifications': { customer: 'S own', operator: 'S esco', worker: 'SU' },
  // One preferences row per customer, created with the customer: updated, never inserted or deleted.
  'public.notification_preferences': { customer: 'SU own', operator: 'SU esco', worker: 'S' },
  'public.operator_alert_subscriptions': { operator: 'SIUD esco', worker: 'S' },
  // Views (not in docs/security.md's table).
  'public.meters': { view: true, customer: 'S own', operator: 'S esco' },
  'public.meter_readings': { view: true, customer: 'S own', operator: 'S esco' },
  'flows.meter_shadows_tariffs': monitoringView,
  'flows.meters_low_balance': monitoringView,
  'flows.meters_offline_recently': monitoringView,
  'flows.meters_clock_drift': monitoringView,
  'flows.circuit_interval_hh': monitoringView,
  'flows.circuit_interval_daily': monitoringView,
  'flows.circuit_interval_monthly': monitoringView,
  'flows.register_interval_hh_completeness': monitoringView,
  // The meters of each property (the topology readers; customers reach theirs through the claim helpers).
  'flows.property_meters': { view: true, operator: 'S esco', service: 'S esco', worker: 'S', reporting: 'S' },
  // Business metrics (issue 9, sql/660_metrics.sql): per-ESCO figures for operators; the exporter and reporting
  // read them through internal.metrics_by_esco().
  'flows.metrics_metering': { view: true, operator: 'S esco' },
  'public.metrics_operations': { view: true, operator: 'S esco' },
};
const sharedRelations = ['flows.meter_event_log_type', 'flows.meter_metrics', 'public.benchmark_tariffs'];

function access(relation: string, role: Role): Access | undefined {
  const entry = matrix[relation]?.[role];
  if (entry === undefined) return undefined;
  if (entry === '?') return { privileges: '?', scope: '?' };
  const [privileges = '', scope = 'all'] = entry.split(' ');
  return { privileges, scope: scope as Scope };
}

// Insert builders: a new row of the target ESCO for every exposed table ----------------------------------
// `control: false` where the row cannot exist (one shadow per meter): the attempt must fail all the same.

interface InsertCase {
  row: Record<string, unknown>;
  control?: false;
}
const probeTime = '2026-10-01T11:00:00Z';
const insertBuilders: Record<string, (t: EscoFixture, f: Fixtures) => InsertCase> = {
  'flows.escos': (t) => ({ row: { code: `${t.code}X`, name: `${t.code} probe` } }),
  'flows.sites_new': (t) => ({ row: { esco: t.id, name: 'probe site', code: `${t.code}-PROBE` } }),
  'flows.properties': (t) => ({ row: { esco: t.id, site: t.siteId, plot: 'probe', address: 'probe' } }),
  'flows.feeder_registry': (t) => ({ row: { esco: t.id, name: `${t.code} probe feeder` } }),
  'flows.service_head_registry': (t) => ({
    row: { esco: t.id, feeder: t.feederId, name: `${t.code} probe SH`, phase: 1, type: 'network_owned' },
  }),
  'flows.properties_service_head': (t) => ({
    row: { esco: t.id, property: t.properties.p3, service_head: t.serviceHeads.sh1 },
  }),
  'flows.service_head_meter': (t) => ({ row: { esco: t.id, service_head: t.serviceHeads.sh3, meter: t.meters.m1.id } }),
  'flows.circuits': (t) => ({ row: { esco: t.id, site: t.siteId, type: 'heat', name: 'probe circuit' } }),
  'flows.circuit_register': (t) => ({
    row: { esco: t.id, circuit: t.circuits.power, register: t.meters.m2.registers.SINGLE, start_time: probeTime },
  }),
  'flows.meter_registry': (t) => ({
    row: { esco: t.id, serial: `${t.code}-PROBE`, ip_address: `10.${t.key === 'A' ? 1 : 2}.9.9` },
  }),
  'flows.meter_registers': (t) => ({
    row: { esco: t.id, meter_id: t.meters.m3.id, element: 'A', start_time: '2026-01-01T00:00:00Z' },
  }),
  'flows.meter_shadows': (t) => ({ row: { id: t.meters.m1.id, esco: t.id, balance: 100 }, control: false }),
  'flows.register_import': (t) => ({ row: { register_id: t.meters.m1.registers.A, timestamp: probeTime, read: 1 } }),
  'flows.register_export': (t) => ({ row: { register_id: t.meters.m1.registers.A, timestamp: probeTime, read: 1 } }),
  'flows.meter_prepay_balance': (t) => ({ row: { meter_id: t.meters.m1.id, timestamp: probeTime, balance: 99 } }),
  'flows.meter_csq': (t) => ({ row: { meter_id: t.meters.m1.id, timestamp: probeTime, csq: 1 } }),
  'flows.meter_voltage': (t) => ({ row: { meter_id: t.meters.m1.id, timestamp: probeTime, voltage: 1 } }),
  'flows.meter_health_history': (t) => ({ row: { meter_id: t.meters.m1.id, timestamp: probeTime, health: 'healthy' } }),
  'flows.register_interval_hh': (t) => ({
    row: { register_id: t.meters.m1.registers.A, timestamp: probeTime, import_kwh: 9, source: 'probe' },
  }),
  'flows.meter_event_log': (t) => ({ row: { meter_id: t.meters.m1.id, timestamp: probeTime, event_type: 1 } }),
  'flows.meter_event_log_type': () => ({ row: { event_type: 999, name: 'probe' } }),
  'flows.meter_metrics': () => ({ row: { name: 'probe', run_frequency: 'daily' } }),
  'flows.meter_sync_runs': (t) => ({ row: { meter_id: t.meters.m1.id, esco: t.id } }),
  'public.customers': (t) => ({ row: { esco: t.id, auth_subject: `probe-${t.code}`, name: 'Probe' } }),
  'public.operators': (t) => ({ row: { auth_subject: `probe-op-${t.code}`, name: 'Probe' } }),
  // The other ESCO's operator joins the target ESCO: for target B, operator A making themselves a member.
  'public.operator_escos': (t, f) => ({ row: { operator: (t.key === 'A' ? f.b : f.a).operator.id, esco: t.id } }),
  'public.accounts': (t) => ({
    row: { esco: t.id, account_number: 'PROBE-1', billing_mode: 'credit', payment_reference: `${t.code}-PROBE` },
  }),
  'public.customer_accounts': (t) => ({
    row: { esco: t.id, customer: t.customers.c2.id, account: t.customers.c1.accountId, role: 'occupant' },
  }),
  'public.account_supplies': (t) => ({
    row: { esco: t.id, account: t.customers.c1.accountId, property: t.properties.p3, start_date: '2026-06-01' },
  }),
  'public.benchmark_tariffs': () => ({
    row: {
      region: 'X',
      quarter_start: '2027-04-01',
      unit_rate_inc_vat_gbp_kwh: 0.3,
      standing_charge_inc_vat_gbp_day: 0.5,
    },
  }),
  'public.microgrid_tariffs': (t) => ({
    row: {
      esco: t.id,
      effective_from: '2027-04-01',
      unit_rate_a_gbp_kwh: 0.2,
      unit_rate_b_gbp_kwh: 0.1,
      standing_charge_gbp_day: 0.4,
    },
  }),
  // The settings row of each ESCO exists already, and operators only update it.
  'public.billing_settings': (t) => ({ row: { esco: t.id, legal_name: 'probe' }, control: false }),
  'public.community_solar_allocations': (t) => ({
    row: { esco: t.id, array_name: 'probe', capacity_kwp: 5, property: t.properties.p2, allocation_ratio: 0.1 },
  }),
  'public.billing_runs': (t) => ({ row: { esco: t.id, period_start: '2026-05-01' } }),
  'public.invoices': (t) => ({
    row: {
      esco: t.id,
      account: t.customers.c1.accountId,
      kind: 'invoice',
      period_start: '2026-05-01',
      period_end: '2026-06-01',
      vat_rate_pct: 5,
    },
  }),
  'public.invoice_lines': (t) => ({
    row: {
      invoice: t.billing.invoiceId,
      esco: t.id,
      position: 99,
      line_type: 'adjustment',
      description: 'probe',
      quantity: 1,
      unit: 'item',
      unit_price: 1,
      amount: 1,
      from_date: '2026-09-01',
      to_date: '2026-09-02',
    },
  }),
  'public.ledger_entries': (t) => ({
    row: { esco: t.id, account: t.customers.c1.accountId, kind: 'adjustment', amount: 1, description: 'probe' },
  }),
  'public.topups': (t) => ({
    row: { esco: t.id, account: t.customers.c1.accountId, meter: t.meters.m1.id, amount: 5 },
  }),
  'public.esco_bank_accounts': (t) => ({
    row: {
      esco: t.id,
      name: 'probe account',
      sort_code: '999999',
      account_number: t.key === 'A' ? '99999991' : '99999992',
    },
  }),
  'public.bank_statements': (t) => ({
    row: { esco: t.id, bank_account: t.bank.accountId, format: 'csv', file_sha256: 'e'.repeat(64), currency: 'GBP' },
  }),
  'public.bank_transactions': (t) => ({
    row: {
      esco: t.id,
      statement: t.bank.statementId,
      bank_account: t.bank.accountId,
      identity: 'fp:probe',
      position: 99,
      amount: 1,
      currency: 'GBP',
    },
  }),
  'public.payments': (t) => ({
    row: { esco: t.id, account: t.customers.c1.accountId, amount: 1, method: 'cash', source: `manual:probe-${t.key}` },
  }),
  'public.refunds': (t) => ({
    row: { esco: t.id, account: t.customers.c1.accountId, amount: 1, reason: 'probe' },
  }),
  'public.payment_allocations': (t) => ({
    row: {
      esco: t.id,
      payment: t.bank.cardPaymentId,
      invoice: t.billing.invoiceId,
      amount: 1,
      allocated_at: probeTime,
    },
  }),
  'public.payment_reminders': (t) => ({
    row: {
      esco: t.id,
      invoice: t.billing.invoiceId,
      account: t.customers.c1.accountId,
      step: 7,
      due_date: '2026-10-16',
      days_overdue: 7,
      outstanding_gbp: 1,
    },
  }),
  'public.notifications': (t) => ({
    row: {
      esco: t.id,
      customer: t.customers.c2.id,
      channel: 'email',
      address: 'probe@probe.example',
      template: 'topup_completed',
      dedupe_key: `probe:${t.code}`,
    },
  }),
  'public.notification_preferences': (t) => ({ row: { customer: t.customers.c2.id, esco: t.id }, control: false }),
  'public.operator_alert_subscriptions': (t) => ({
    row: { esco: t.id, channel: 'sms', address: t.key === 'A' ? '+447700900991' : '+447700900992' },
  }),
  'public.customer_tariffs': (t) => ({
    row: {
      esco: t.id,
      customer: t.customers.c2.id,
      microgrid_tariff: t.microgridTariffId,
      effective_from: '2027-04-01',
      discount_pct: 5,
      unit_rate_a_gbp_kwh: 0.2,
      unit_rate_b_gbp_kwh: 0.1,
      standing_charge_gbp_day: 0.4,
    },
  }),
};

// Function map: how each exposed function is called to try to learn or change another tenant's data -----

interface FunctionAttempt {
  label: string;
  actor: Actor;
  /** Arguments by parameter name. */
  args: Record<string, unknown>;
  /** A further check of the rows returned (e.g. totals that would include someone else's half-hours). */
  check?: (rows: Row[]) => string | undefined;
  /** A control: the call must succeed (and with `seesOwn`, return some of the actor's own data). */
  succeeds?: true;
  seesOwn?: true;
  /** The role may not call the function at all (docs/security.md). */
  failsWith?: string;
}

const opA: Actor = { kind: 'operator', esco: 'A' };
const svcA: Actor = { kind: 'service', esco: 'A' };
const custA1: Actor = { kind: 'customer', customer: 'A1' };
const custA2: Actor = { kind: 'customer', customer: 'A2' };
const anon: Actor = { kind: 'anon' };

/** Sum of a numeric column over rows (numeric comes back as a string). */
const total = (rows: Row[], column: string) => rows.reduce((s, r) => s + Number(r[column] ?? 0), 0);

const functionMap: Record<string, (f: Fixtures) => FunctionAttempt[]> = {
  // Billing (issue 6)
  'public.billing_run_start': (f) => [
    { label: "B's code", actor: opA, args: { esco_code: f.b.code, month: '2026-08-01' } },
    {
      label: 'control: own ESCO',
      actor: opA,
      args: { esco_code: f.a.code, month: '2026-08-01' },
      succeeds: true,
      seesOwn: true,
    },
    { label: "A's code", actor: custA1, args: { esco_code: f.a.code, month: '2026-08-01' }, failsWith: '42501' },
  ],
  'public.billing_run_issue': (f) => [
    { label: "B's run", actor: opA, args: { run_id: f.b.billing.runId } },
    { label: "A's run", actor: custA1, args: { run_id: f.a.billing.runId }, failsWith: '42501' },
  ],
  'public.invoice_issue': (f) => [
    { label: "B's invoice", actor: opA, args: { invoice_id: f.b.billing.invoiceId } },
    { label: 'own invoice', actor: custA1, args: { invoice_id: f.a.billing.invoiceId }, failsWith: '42501' },
  ],
  'public.invoice_void': (f) => [
    { label: "B's invoice", actor: opA, args: { invoice_id: f.b.billing.invoiceId, reason: 'probe' } },
    {
      label: "control: A's invoice",
      actor: opA,
      args: { invoice_id: f.a.billing.invoiceId, reason: 'probe' },
      succeeds: true,
      seesOwn: true,
    },
    {
      label: 'own invoice',
      actor: custA1,
      args: { invoice_id: f.a.billing.invoiceId, reason: 'x' },
      failsWith: '42501',
    },
  ],
  'public.invoice_rebill': (f) => [{ label: "B's invoice", actor: opA, args: { invoice_id: f.b.billing.invoiceId } }],
  'public.invoice_dispute': (f) => [
    { label: "B's invoice", actor: opA, args: { invoice_id: f.b.billing.invoiceId, reason: 'probe' } },
    { label: "B's invoice", actor: custA1, args: { invoice_id: f.b.billing.invoiceId, reason: 'probe' } },
    {
      label: 'control: own invoice',
      actor: custA1,
      args: { invoice_id: f.a.billing.invoiceId, reason: 'too high' },
      succeeds: true,
      seesOwn: true,
    },
    { label: "A1's invoice", actor: custA2, args: { invoice_id: f.a.billing.invoiceId, reason: 'probe' } },
  ],
  'public.invoice_dispute_resolve': (f) => [
    { label: "B's invoice", actor: opA, args: { invoice_id: f.b.billing.invoiceId, resolution: 'probe' } },
  ],
  'public.monthly_costs_compute': (f) => [
    {
      label: 'control: own account',
      actor: custA1,
      args: { account_id: f.a.customers.c1.accountId, month: '2026-10-01' },
      succeeds: true,
      seesOwn: true,
    },
    { label: "A2's account", actor: custA1, args: { account_id: f.a.customers.c2.accountId, month: '2026-10-01' } },
    { label: "B's account", actor: opA, args: { account_id: f.b.customers.c1.accountId, month: '2026-10-01' } },
    {
      label: "control: A's account",
      actor: opA,
      args: { account_id: f.a.customers.c2.accountId, month: '2026-10-01' },
      succeeds: true,
      seesOwn: true,
    },
  ],
  'public.invoice_pdf': (f) => [
    { label: "B's invoice", actor: opA, args: { invoice_id: f.b.billing.invoiceId } },
    { label: "B's invoice", actor: custA1, args: { invoice_id: f.b.billing.invoiceId } },
    { label: "A1's invoice", actor: custA2, args: { invoice_id: f.a.billing.invoiceId } },
  ],
  'flows.ingest_interval_hh': (f) => {
    const rows = (t: EscoFixture, at: string, registerId = t.meters.m1.registers.A) => [
      { register_id: registerId, timestamp: at, import_kwh: 5, quality: 'actual', source: 'probe' },
    ];
    return [
      { label: "control: A's register", actor: svcA, args: { rows: rows(f.a, probeTime) }, succeeds: true },
      { label: "B's register, new half-hour", actor: svcA, args: { rows: rows(f.b, probeTime) } },
      { label: "B's register, existing half-hour", actor: svcA, args: { rows: rows(f.b, '2026-10-01T10:00:00Z') } },
      // Only the service and worker roles ingest (docs/security.md).
      { label: "B's register", actor: opA, args: { rows: rows(f.b, probeTime) }, failsWith: '42501' },
      {
        label: "A2's register",
        actor: custA1,
        args: { rows: rows(f.a, probeTime, f.a.meters.m2.registers.SINGLE) },
        failsWith: '42501',
      },
    ];
  },
  'public.tariff_rate_ex_vat': () => [
    { label: 'control: a rate', actor: opA, args: { rate_inc_vat: 0.245, discount_pct: 10 }, succeeds: true },
  ],
  'public.generate_new_quarter_tariffs': (f) => [
    { label: "B's code", actor: opA, args: { quarter_start_in: f.nextQuarter, esco_code_in: f.b.code } },
    {
      label: 'control: every ESCO it manages',
      actor: opA,
      args: { quarter_start_in: f.nextQuarter, esco_code_in: null },
      succeeds: true,
      seesOwn: true,
    },
    { label: "A's code", actor: custA1, args: { quarter_start_in: f.nextQuarter, esco_code_in: f.a.code } },
  ],
  'public.meters_missing_future_tariffs': (f) => [
    { label: "control: A's code", actor: opA, args: { esco_code_in: f.a.code }, succeeds: true, seesOwn: true },
    { label: "B's code", actor: opA, args: { esco_code_in: f.b.code } },
    { label: 'no code', actor: opA, args: { esco_code_in: null } },
    { label: "A's code", actor: custA1, args: { esco_code_in: f.a.code } },
    { label: "B's code", actor: svcA, args: { esco_code_in: f.b.code } },
  ],
  'public.my_account': () => [
    { label: 'own account', actor: custA1, args: {}, succeeds: true, seesOwn: true },
    { label: 'own account after moving in', actor: custA2, args: {}, succeeds: true, seesOwn: true },
    { label: 'no customer record', actor: opA, args: {} },
  ],
  'public.my_consumption': () => {
    // A1's own half-hours are 0.001 kWh each; anyone else's are 1 kWh or more.
    const onlyOwn = (rows: Row[]) => {
      const kwh = total(rows, 'import_kwh');
      return kwh > 0 && kwh < 1
        ? undefined
        : `import_kwh totals ${kwh}: expected A1's own half-hours only (0 < total < 1)`;
    };
    return [
      ...['day', 'month'].map((granularity) => ({
        label: `by ${granularity}, May to November`,
        actor: custA1,
        args: { from_date: '2026-05-01', to_date: '2026-11-01', granularity },
        check: onlyOwn,
      })),
      {
        label: 'by half-hour around the move',
        actor: custA1,
        args: { from_date: '2026-09-01', to_date: '2026-10-31', granularity: 'halfhour' },
        check: onlyOwn,
      },
      {
        label: 'by day',
        actor: opA,
        args: { from_date: '2026-05-01', to_date: '2026-11-01', granularity: 'day' },
      },
    ];
  },
  'public.bank_import_statement': (f) => {
    // A one-line CSV statement for the ESCO's only bank account.
    const document = (hash: string) => ({
      format: 'csv',
      format_version: 'signed-amount',
      file_sha256: hash.repeat(64),
      statements: [
        {
          path: 'line 1',
          currency: 'GBP',
          entries: [{ path: 'line 2', amount: '1.00', currency: 'GBP', booking_date: '2026-10-03', booked: true }],
        },
      ],
    });
    return [
      {
        label: "control: A's code",
        actor: opA,
        args: { esco_code: f.a.code, document: document('c') },
        succeeds: true,
      },
      { label: "B's code", actor: opA, args: { esco_code: f.b.code, document: document('d') }, failsWith: 'PT404' },
      { label: "B's code", actor: svcA, args: { esco_code: f.b.code, document: document('d') }, failsWith: 'PT404' },
      { label: "A's code", actor: custA1, args: { esco_code: f.a.code, document: document('d') }, failsWith: '42501' },
    ];
  },
  'public.bank_transaction_match': (f) => [
    {
      label: "control: A's line to A's account",
      actor: opA,
      args: { transaction_id: f.a.bank.unmatchedLineId, account_id: f.a.customers.c1.accountId },
      succeeds: true,
    },
    {
      label: "B's line to A's account",
      actor: opA,
      args: { transaction_id: f.b.bank.unmatchedLineId, account_id: f.a.customers.c1.accountId },
      failsWith: 'PT404',
    },
    {
      label: "A's line to B's account",
      actor: opA,
      args: { transaction_id: f.a.bank.unmatchedLineId, account_id: f.b.customers.c1.accountId },
      failsWith: 'PT404',
    },
    {
      label: "A's line",
      actor: custA1,
      args: { transaction_id: f.a.bank.unmatchedLineId, account_id: f.a.customers.c1.accountId },
      failsWith: '42501',
    },
  ],
  'public.bank_transaction_ignore': (f) => [
    {
      label: "control: A's line",
      actor: opA,
      args: { transaction_id: f.a.bank.unmatchedLineId, reason: 'probe' },
      succeeds: true,
    },
    {
      label: "B's line",
      actor: opA,
      args: { transaction_id: f.b.bank.unmatchedLineId, reason: 'probe' },
      failsWith: 'PT404',
    },
    {
      label: "B's line",
      actor: svcA,
      args: { transaction_id: f.b.bank.unmatchedLineId, reason: 'probe' },
      failsWith: '42501',
    },
  ],
  // Refunds (issue 7): operators of the account's ESCO only.
  'public.refund_request': (f) => [
    {
      // found, but its ledger holds no credit: refused for that, not as unknown
      label: "control: A's account",
      actor: opA,
      args: { account_id: f.a.customers.c1.accountId, amount: 1, reason: 'probe' },
      failsWith: 'PT409',
    },
    {
      label: "B's account",
      actor: opA,
      args: { account_id: f.b.customers.c1.accountId, amount: 1, reason: 'probe' },
      failsWith: 'PT404',
    },
    {
      label: "A's account, B's payment",
      actor: opA,
      args: { account_id: f.a.customers.c1.accountId, amount: 1, reason: 'probe', payment_id: f.b.bank.paymentId },
      failsWith: 'PT404',
    },
    {
      label: 'own account',
      actor: custA1,
      args: { account_id: f.a.customers.c1.accountId, amount: 1, reason: 'probe' },
      failsWith: '42501',
    },
  ],
  'public.refund_mark_paid': (f) => [
    { label: "control: A's refund", actor: opA, args: { refund_id: f.a.bank.refundId }, succeeds: true },
    { label: "B's refund", actor: opA, args: { refund_id: f.b.bank.refundId }, failsWith: 'PT404' },
    { label: "A's refund", actor: svcA, args: { refund_id: f.a.bank.refundId }, failsWith: '42501' },
    { label: 'own refund', actor: custA1, args: { refund_id: f.a.bank.refundId }, failsWith: '42501' },
  ],
  'public.refund_cancel': (f) => [
    {
      label: "control: A's refund",
      actor: opA,
      args: { refund_id: f.a.bank.refundId, reason: 'probe' },
      succeeds: true,
    },
    { label: "B's refund", actor: opA, args: { refund_id: f.b.bank.refundId, reason: 'probe' }, failsWith: 'PT404' },
    { label: 'own refund', actor: custA1, args: { refund_id: f.a.bank.refundId, reason: 'probe' }, failsWith: '42501' },
  ],
  // The webhook takes the raw body as its single unnamed parameter (PostgREST's text/plain convention), so it cannot
  // be called by name here; test/bank/webhook.test.ts covers its signature check and a service token's ESCO scope.
  'public.payment_webhook': () => [],
  // Data protection (issue 9): the customer themself or an operator of their ESCO; erasure by operators only.
  'public.customer_data_export': (f) => [
    { label: 'control: own', actor: custA1, args: { customer_id: f.a.customers.c1.id }, succeeds: true, seesOwn: true },
    { label: "A2's", actor: custA1, args: { customer_id: f.a.customers.c2.id }, failsWith: 'PT404' },
    { label: "B1's", actor: opA, args: { customer_id: f.b.customers.c1.id }, failsWith: 'PT404' },
    { label: "A1's", actor: svcA, args: { customer_id: f.a.customers.c1.id }, failsWith: '42501' },
  ],
  'public.customer_erase': (f) => [
    { label: "B1's", actor: opA, args: { customer_id: f.b.customers.c1.id }, failsWith: 'PT404' },
    { label: 'own', actor: custA1, args: { customer_id: f.a.customers.c1.id }, failsWith: '42501' },
    { label: "A1's", actor: svcA, args: { customer_id: f.a.customers.c1.id }, failsWith: '42501' },
  ],
  'flows.get_meters_for_cli': (f) => [
    { label: "B's code", actor: opA, args: { esco_filter: f.b.code, feeder_filter: null } },
    { label: "B's code and feeder", actor: opA, args: { esco_filter: f.b.code, feeder_filter: f.b.feederName } },
    { label: "B's feeder", actor: opA, args: { esco_filter: null, feeder_filter: f.b.feederName } },
    {
      label: 'control: no filter',
      actor: opA,
      args: { esco_filter: null, feeder_filter: null },
      succeeds: true,
      seesOwn: true,
    },
    { label: "A's code", actor: custA1, args: { esco_filter: f.a.code, feeder_filter: null } },
  ],
};

// Set-up at load time, so that the tests can be generated from the catalog and the fixtures ---------------

const db = await createTestDatabase();
const pool = new pg.Pool({ connectionString: db.url, max: 4 });
afterAll(async () => {
  await pool.end();
  await db.drop();
});

const f = await buildFixtures(pool);

const relations = await many<Relation>(
  pool,
  `select format('%I.%I', n.nspname, c.relname) as name,
          case when c.relkind in ('r', 'p', 'f') then 'table' else 'view' end as kind,
          array(select a.attname::text from pg_attribute a
                 where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped order by a.attnum) as columns
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname in ('public', 'flows') and c.relkind in ('r', 'p', 'v', 'm', 'f') and not c.relispartition
    order by 1`,
);
const tables = relations.filter((r) => r.kind === 'table');

const functions = await many<FunctionInfo>(
  pool,
  `select format('%I.%I', n.nspname, p.proname) as key,
          format('%I.%I(%s)', n.nspname, p.proname, array_to_string(p.proargtypes::regtype[]::text[], ', ')) as signature,
          p.prorettype = 'void'::regtype as "returnsVoid",
          coalesce((select json_agg(json_build_object('name', a.name, 'type', format_type(a.type, null)) order by a.ord)
                      from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargnames,
                                  coalesce(p.proargmodes, array_fill('i'::"char", array[p.pronargs])))
                           with ordinality a(type, name, mode, ord)
                     where a.mode in ('i', 'b', 'v')), '[]') as args
     from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname in ('public', 'flows') and p.prokind in ('f', 'p') and p.prorettype <> 'trigger'::regtype
      and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
    order by 1, 2`,
);

/** Every row of every exposed relation, as the superuser sees it after the fixtures. */
const baseline = new Map<string, Row[]>();
for (const r of relations) {
  baseline.set(
    r.name,
    (await many<{ row: Row }>(pool, `select to_jsonb(t) as row from ${r.name} t`)).map((x) => x.row),
  );
}
const rowsOf = (relation: string) => baseline.get(relation) ?? [];

// Helpers ------------------------------------------------------------------------------------------------

const actorName = (a: Actor) =>
  a.kind === 'anon' ? 'anon' : a.kind === 'customer' ? `customer ${a.customer}` : `${a.kind} of ${a.esco}`;

function sqlState(error: unknown): string {
  return (error as { code?: string }).code ?? `(no SQLSTATE: ${(error as Error).message})`;
}

interface Attempt {
  error?: { code: string; message: string; detail?: string; hint?: string };
  rowCount: number;
  rows: Row[];
}

/** Runs one statement in a savepoint, returning its outcome instead of throwing. */
async function attempt(client: pg.ClientBase, sql: string, values: unknown[] = []): Promise<Attempt> {
  await client.query('savepoint attempt');
  try {
    const result = await client.query<Row>(sql, values);
    await client.query('release savepoint attempt');
    return { rowCount: result.rowCount ?? 0, rows: result.rows };
  } catch (error) {
    await client.query('rollback to savepoint attempt');
    const e = error as pg.DatabaseError;
    return {
      error: { code: sqlState(error), message: e.message, detail: e.detail, hint: e.hint },
      rowCount: 0,
      rows: [],
    };
  }
}

/**
 * Per table: how many rows the actor must not reach exist, and how many this transaction wrote. Rows
 * written inside a savepoint carry the subtransaction's xid, so "written" is xmin at or after the
 * transaction's own xid (taken before any write; nothing else writes to this file's database meanwhile).
 */
const fingerprintSql = tables
  .map(
    (t) => `select ${pgLiteral(t.name)} as relation, count(*)::int as present,
                   count(*) filter (where t.xmin::text::bigint >= ($2::text::bigint & 4294967295))::int as written
              from ${t.name} t
             where exists (select 1 from jsonb_each_text(to_jsonb(t)) e where e.value = any ($1::text[]))`,
  )
  .join('\nunion all\n');

function pgLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

type Fingerprint = Record<string, { present: number; written: number }>;

async function fingerprint(client: pg.ClientBase | pg.Pool, actor: Actor, since: string): Promise<Fingerprint> {
  const rows = await many<{ relation: string; present: number; written: number }>(client, fingerprintSql, [
    forbiddenMarkers(f, actor),
    since,
  ]);
  return Object.fromEntries(rows.map((r) => [r.relation, { present: r.present, written: r.written }]));
}

const baselineFingerprints = new Map<string, Fingerprint>();
async function baselineFingerprint(actor: Actor): Promise<Fingerprint> {
  const name = actorName(actor);
  if (!baselineFingerprints.has(name)) baselineFingerprints.set(name, await fingerprint(pool, actor, '0'));
  return baselineFingerprints.get(name)!;
}

/**
 * Runs `fn` as the actor (asRole: rolled back). `damage()`, called last, tells what the transaction did to
 * rows the actor must not reach: tables where some vanished or were written. It leaves the role reset.
 */
async function asActor<T>(
  actor: Actor,
  fn: (client: pg.ClientBase, damage: () => Promise<string[]>) => Promise<T>,
): Promise<T> {
  const { role, claims } = roleOf(f, actor);
  const before = await baselineFingerprint(actor);
  return asRole(pool, role, claims, async (c) => {
    const since = (await many<{ xid: string }>(c, `select pg_current_xact_id()::text as xid`))[0]!.xid;
    const damage = async () => {
      await c.query('reset role');
      const now = await fingerprint(c, actor, since);
      return Object.entries(now).flatMap(([relation, { present, written }]) => {
        const was = before[relation]?.present ?? 0;
        const issues: string[] = [];
        if (present < was) issues.push(`${relation}: ${was - present} row(s) deleted`);
        if (written > 0) issues.push(`${relation}: ${written} row(s) written`);
        return issues;
      });
    };
    return fn(c, damage);
  });
}

/** The columns of a relation the current role may select. */
async function selectableColumns(client: pg.ClientBase, relation: string): Promise<string[]> {
  const rows = await many<{ name: string }>(
    client,
    `select a.attname::text as name from pg_attribute a
      where a.attrelid = $1::regclass and a.attnum > 0 and not a.attisdropped
        and has_column_privilege(a.attrelid, a.attnum, 'SELECT') order by a.attnum`,
    [relation],
  );
  return rows.map((r) => r.name);
}

/** Rows the actor reads from a relation (the columns they may read); no privilege at all reads as no rows. */
async function selectAs(actor: Actor, relation: string): Promise<{ rows: Row[]; denied: boolean }> {
  const { role, claims } = roleOf(f, actor);
  return asRole(pool, role, claims, async (c) => {
    const columns = await selectableColumns(c, relation);
    if (columns.length === 0) return { rows: [], denied: true };
    const result = await attempt(
      c,
      `select to_jsonb(t) as row from (select ${columns.map(quoteIdent).join(', ')} from ${relation}) t`,
    );
    // 42501 here comes from a table under a view: nothing is revealed.
    if (result.error?.code === '42501') return { rows: [], denied: true };
    if (result.error) throw new Error(`${result.error.code}: ${result.error.message}`);
    return { rows: result.rows.map((r) => r.row as Row), denied: false };
  });
}

/** Time-series rows outside the customer's supply windows (rows with `timestamp` and a register or meter). */
function outsideWindows(rows: Row[], customer: CustomerKey): Row[] {
  const windows = [...f.a.windows, ...f.b.windows];
  const known = new Set(windows.flatMap((w) => [w.meterId, ...w.registerIds]));
  return rows.filter((row) => {
    const at = row.timestamp;
    const subject = (row.register_id ?? row.meter_id) as string | undefined;
    if (typeof at !== 'string' || subject === undefined || !known.has(subject)) return false;
    const t = new Date(at);
    return !windows.some(
      (w) =>
        w.customer === customer &&
        (w.meterId === subject || w.registerIds.includes(subject)) &&
        w.from <= t &&
        (w.to === null || t < w.to),
    );
  });
}

/** The first column whose values tell the actor's forbidden rows apart from the rest. */
function discriminatingColumn(relation: Relation, forbidden: Row[], allowed: Row[]): string | undefined {
  return relation.columns.find((c) => {
    const values = forbidden.map((r) => r[c]);
    if (values.some((v) => v === null || v === undefined || typeof v === 'object')) return false;
    const other = new Set(allowed.map((r) => JSON.stringify(r[c])));
    return values.every((v) => !other.has(JSON.stringify(v)));
  });
}

const viewNotWritable = ['42501', '55000', '0A000'];

/** Updates (self-assigning every column it may update) or deletes the actor's forbidden rows of a relation. */
async function writeForbidden(actor: Actor, relation: Relation, op: 'update' | 'delete') {
  const rows = rowsOf(relation.name);
  const forbidden = rows.filter((r) => findForbidden(f, r, actor).length > 0);
  const allowed = rows.filter((r) => findForbidden(f, r, actor).length === 0);
  const key = discriminatingColumn(relation, forbidden, allowed);
  if (key === undefined)
    throw new Error(`no column of ${relation.name} tells the rows ${actorName(actor)} must not reach apart`);
  return asActor(actor, async (c, damage) => {
    const updatable = (
      await many<{ name: string }>(
        c,
        `select a.attname::text as name from pg_attribute a
          where a.attrelid = $1::regclass and a.attnum > 0 and not a.attisdropped
            and has_column_privilege(a.attrelid, a.attnum, 'UPDATE') order by a.attnum`,
        [relation.name],
      )
    ).map((r) => r.name);
    const where = `where to_jsonb(${quoteIdent(key)}) = any ($1::jsonb[])`;
    const values = [forbidden.map((r) => JSON.stringify(r[key]))];
    const set = (updatable.length > 0 ? updatable : relation.columns.slice(0, 1))
      .map((col) => `${quoteIdent(col)} = ${quoteIdent(col)}`)
      .join(', ');
    const sql =
      op === 'update' ? `update ${relation.name} set ${set} ${where}` : `delete from ${relation.name} ${where}`;
    const result = await attempt(c, sql, values);
    return { result, damage: await damage(), key };
  });
}

/** Inserts a row as the superuser (must succeed: the row is valid), then as the actor; returns the actor's outcome. */
async function insertAs(actor: Actor, relation: string, build: InsertCase) {
  const columns = Object.keys(build.row).map(quoteIdent).join(', ');
  const sql = `insert into ${relation} (${columns}) select ${columns} from jsonb_populate_record(null::${relation}, $1::jsonb)`;
  const values = [JSON.stringify(build.row)];
  return asActor(actor, async (c, damage) => {
    let control: Attempt | undefined;
    if (build.control !== false) {
      await c.query('savepoint control');
      await c.query('reset role');
      control = await attempt(c, sql, values);
      await c.query('rollback to savepoint control');
    }
    const result = await attempt(c, sql, values);
    return { control, result, damage: await damage() };
  });
}

/**
 * How many rows the actor must not reach the UPDATE or DELETE policies of a table would let a *blind*
 * write (no WHERE, no column read, so no SELECT policy applies: `delete from t`) reach. The policies'
 * USING clauses are evaluated as the superuser with the actor's claims; 0 where the role lacks the privilege.
 */
async function policyReach(actor: Actor, relation: string, command: 'UPDATE' | 'DELETE'): Promise<number> {
  const { role, claims } = roleOf(f, actor);
  return asRole(pool, role, claims, async (c) => {
    const [privileged] = await many<{ ok: boolean }>(
      c,
      command === 'UPDATE'
        ? `select has_any_column_privilege($1, $2::regclass, 'UPDATE') as ok`
        : `select has_table_privilege($1, $2::regclass, 'DELETE') as ok`,
      [role, relation],
    );
    if (!privileged?.ok) return 0;
    await c.query('reset role');
    const policies = await many<{ permissive: string; qual: string | null }>(
      c,
      `select p.permissive, p.qual from pg_policies p
        where format('%I.%I', p.schemaname, p.tablename) = $1 and p.cmd in ($2, 'ALL')
          and ($3 = any (p.roles) or 'public' = any (p.roles))`,
      [relation, command, role],
    );
    const permissive = policies.filter((p) => p.permissive === 'PERMISSIVE').map((p) => `(${p.qual ?? 'true'})`);
    if (permissive.length === 0) return 0;
    const restrictive = policies.filter((p) => p.permissive !== 'PERMISSIVE').map((p) => ` and (${p.qual ?? 'true'})`);
    const table = relation.slice(relation.indexOf('.') + 1);
    const [reach] = await many<{ n: number }>(
      c,
      `select count(*)::int as n from ${relation}
        where (${permissive.join(' or ')})${restrictive.join('')}
          and exists (select 1 from jsonb_each_text(to_jsonb(${table}.*)) e where e.value = any ($1::text[]))`,
      [forbiddenMarkers(f, actor)],
    );
    return reach?.n ?? 0;
  });
}

const describeError = (a: Attempt) => (a.error ? `${a.error.code} ${a.error.message}` : `ok, ${a.rowCount} row(s)`);

// Tests --------------------------------------------------------------------------------------------------

describe('the isolation matrix knows every exposed object', () => {
  it.each(relations.map((r) => r.name))('%s is in the policy matrix of this test', (name) => {
    expect(matrix[name], `add ${name} to the matrix here (and to docs/security.md)`).toBeDefined();
  });

  it.each(tables.map((r) => r.name))('%s has an insert builder', (name) => {
    expect(insertBuilders[name], `add an insert builder for ${name}`).toBeDefined();
  });

  it.each([...new Set(functions.map((fn) => fn.key))])('%s has an entry in the function map', (key) => {
    expect(functionMap[key], `add ${key} to the function map`).toBeDefined();
  });

  it.each(relations.filter((r) => !sharedRelations.includes(r.name)).map((r) => r.name))(
    '%s holds rows of both ESCOs after the fixtures (extend test/support/fixtures.ts if not)',
    (name) => {
      const rows = rowsOf(name);
      expect(rows.filter((r) => findOwn(f, r, opA).length > 0).length, `rows of ESCO A in ${name}`).toBeGreaterThan(0);
      expect(
        rows.filter((r) => findForbidden(f, r, opA).length > 0).length,
        `rows of ESCO B in ${name}`,
      ).toBeGreaterThan(0);
    },
  );
});

describe('grants follow the policy matrix', () => {
  const roles: Role[] = ['anon', 'customer', 'operator', 'service', 'worker', 'reporting'];
  const cases = tables.flatMap((t) => roles.map((role) => [t.name, role] as const));
  it.each(cases)('%s: the privileges of %s match docs/security.md', async (relation, role) => {
    const [granted] = await many<{ s: boolean; i: boolean; u: boolean; d: boolean }>(
      pool,
      `select has_any_column_privilege($1, $2::regclass, 'SELECT') as s,
              has_any_column_privilege($1, $2::regclass, 'INSERT') as i,
              has_any_column_privilege($1, $2::regclass, 'UPDATE') as u,
              has_table_privilege($1, $2::regclass, 'DELETE') as d`,
      [role, relation],
    );
    const actual = (['s', 'i', 'u', 'd'] as const)
      .filter((p) => granted?.[p])
      .join('')
      .toUpperCase();
    expect(actual).toBe(access(relation, role)?.privileges ?? '');
  });
});

describe.each([opA, svcA, custA1, custA2].map((a) => [actorName(a), a] as const))('reading as %s', (who, actor) => {
  const role = roleOf(f, actor).role as WebRole;

  it.each(relations.map((r) => r.name))(`%s: ${who} sees no row of anyone else`, async (relation) => {
    const { rows } = await selectAs(actor, relation);
    const leaks = rows.filter((r) => findForbidden(f, r, actor).length > 0);
    expect(
      leaks.map((r) => findForbidden(f, r, actor)),
      `rows revealing another tenant's data`,
    ).toEqual([]);
    if (actor.kind === 'customer') {
      expect(outsideWindows(rows, actor.customer), 'half-hours or history outside the supply period').toEqual([]);
    }
  });

  // Views that docs/security.md does not list (scope '?') get only the leak check above.
  const specified = relations.filter((r) => access(r.name, role)?.scope !== '?').map((r) => r.name);
  it.each(specified)(`%s: ${who} sees what docs/security.md gives them`, async (relation) => {
    const expected = access(relation, role);
    const { rows } = await selectAs(actor, relation);
    if (expected === undefined || !expected.privileges.includes('S')) {
      expect(rows, `${who} should see no row of ${relation}`).toEqual([]);
      return;
    }
    switch (expected.scope) {
      case 'all':
        expect(rows.length).toBe(rowsOf(relation).length);
        break;
      case 'esco':
      case 'own':
      case 'self': {
        const own = rows.filter((r) => findOwn(f, r, actor, expected.scope === 'own').length > 0);
        expect(own.length, `${who} should see their own rows of ${relation}`).toBeGreaterThan(0);
        if (expected.scope === 'self') {
          const me = escoOf(f, 'A').operator.id;
          expect(rows.every((r) => Object.values(r).includes(me))).toBe(true);
        }
        break;
      }
    }
  });
});

describe('anon', () => {
  it.each(relations.filter((r) => r.name !== 'flows.escos').map((r) => r.name))(
    '%s: anon sees nothing',
    async (name) => {
      const { rows } = await selectAs(anon, name);
      expect(rows).toEqual([]);
    },
  );

  it.each(functions.map((fn) => fn.signature))('%s: anon cannot execute it', async (signature) => {
    const [granted] = await many<{ ok: boolean }>(pool, `select has_function_privilege('anon', $1, 'EXECUTE') as ok`, [
      signature,
    ]);
    expect(granted?.ok).toBe(false);
  });

  it('flows.escos: anon sees the code and name of every ESCO, nothing else', async () => {
    await asRole(pool, 'anon', {}, async (c) => {
      const list = await attempt(c, `select code, name from flows.escos order by code`);
      expect(list.rows).toEqual(
        expect.arrayContaining([
          { code: f.a.code, name: f.a.name },
          { code: f.b.code, name: f.b.name },
        ]),
      );
      const columns = relations
        .find((r) => r.name === 'flows.escos')!
        .columns.filter((col) => !['code', 'name'].includes(col));
      for (const col of columns) {
        const other = await attempt(c, `select ${quoteIdent(col)} from flows.escos`);
        expect(other.error?.code, `anon reading flows.escos.${col}`).toBe('42501');
      }
    });
  });
});

describe.each([opA, svcA, custA1].map((a) => [actorName(a), a] as const))('writing as %s', (who, actor) => {
  const targets = relations.filter((r) => rowsOf(r.name).some((row) => findForbidden(f, row, actor).length > 0));

  it.each(targets.map((r) => r.name))(`%s: ${who} updates none of the rows they must not reach`, async (name) => {
    const relation = relations.find((r) => r.name === name)!;
    const { result, damage: harm } = await writeForbidden(actor, relation, 'update');
    const blocked = relation.kind === 'view' ? viewNotWritable : ['42501'];
    if (result.error) expect(blocked, describeError(result)).toContain(result.error.code);
    else expect(result.rowCount, 'rows updated').toBe(0);
    expect(harm).toEqual([]);
  });

  it.each(targets.map((r) => r.name))(`%s: ${who} deletes none of the rows they must not reach`, async (name) => {
    const relation = relations.find((r) => r.name === name)!;
    const { result, damage: harm } = await writeForbidden(actor, relation, 'delete');
    // 23503 would mean the DELETE reached a row another row depends on: the policy let it through.
    const blocked = relation.kind === 'view' ? viewNotWritable : ['42501'];
    if (result.error) expect(blocked, describeError(result)).toContain(result.error.code);
    else expect(result.rowCount, 'rows deleted').toBe(0);
    expect(harm).toEqual([]);
  });

  const tableTargets = targets.filter((r) => r.kind === 'table').map((r) => r.name);
  it.each(tableTargets.flatMap((name) => (['UPDATE', 'DELETE'] as const).map((cmd) => [name, cmd] as const)))(
    `%s: the %s policies for ${who} reach none of the rows they must not reach (a write without WHERE)`,
    async (name, command) => {
      expect(await policyReach(actor, name, command)).toBe(0);
    },
  );

  const insertTargets: EscoFixture[] = actor.kind === 'customer' ? [f.b, f.a] : [f.b];
  const insertCases = tables.flatMap((t) => insertTargets.map((target) => [t.name, target.key] as const));
  it.each(insertCases)(`%s: ${who} cannot insert a row of ESCO %s`, async (name, key) => {
    const build = insertBuilders[name];
    if (build === undefined) return; // reported by 'has an insert builder'
    const { control, result, damage: harm } = await insertAs(actor, name, build(escoOf(f, key), f));
    if (control) expect(control.error, `the probe row itself is invalid: ${describeError(control)}`).toBeUndefined();
    expect(result.error?.code, describeError(result)).toBe('42501');
    expect(harm).toEqual([]);
  });
});

describe('operator of A writes within ESCO A only', () => {
  const insertable = tables.filter((t) => access(t.name, 'operator')?.privileges.includes('I'));
  it.each(insertable.map((t) => t.name))('%s: operator of A inserts a row of A (control)', async (name) => {
    const build = insertBuilders[name];
    if (build === undefined) return;
    const { result } = await insertAs(opA, name, build(f.a, f));
    expect(result.error, describeError(result)).toBeUndefined();
  });

  const withEsco = tables.filter((t) => t.columns.includes('esco'));
  it.each(withEsco.map((t) => t.name))('%s: operator of A cannot move a row of A to ESCO B', async (name) => {
    const result = await asRole(pool, 'operator', f.a.operator.claims, (c) =>
      attempt(c, `update ${name} set esco = $1 where esco = $2`, [f.b.id, f.a.id]),
    );
    expect(result.error?.code, describeError(result)).toBe('42501');
  });
});

describe('a customer cannot escalate', () => {
  const c1 = () => f.a.customers.c1;
  const attempts: [string, string, string, () => unknown, () => string][] = [
    ['public.customers', 'auth_subject', 'id', () => 'hijacked', () => c1().id],
    ['public.customers', 'status', 'id', () => 'closed', () => c1().id],
    ['public.customers', 'esco', 'id', () => f.b.id, () => c1().id],
    ['public.customers', 'vulnerable', 'id', () => true, () => c1().id],
    ['public.customers', 'priority_services', 'id', () => true, () => c1().id],
    ['public.accounts', 'billing_mode', 'id', () => 'credit', () => c1().accountId],
    ['public.accounts', 'vat_rate_pct', 'id', () => 0, () => c1().accountId],
    ['public.accounts', 'esco', 'id', () => f.b.id, () => c1().accountId],
    ['public.accounts', 'status', 'id', () => 'closed', () => c1().accountId],
    ['public.accounts', 'payment_reference', 'id', () => 'HIJACKED-1', () => c1().accountId],
    ['public.customer_accounts', 'role', 'customer', () => 'payer', () => c1().id],
    ['public.account_supplies', 'end_date', 'account', () => '2026-06-02', () => c1().accountId],
    ['public.customer_tariffs', 'discount_pct', 'customer', () => 100, () => c1().id],
    ['public.customer_tariffs', 'unit_rate_a_gbp_kwh', 'customer', () => 0, () => c1().id],
    ['public.microgrid_tariffs', 'discount_pct', 'esco', () => 100, () => f.a.id],
    ['flows.meter_shadows', 'balance', 'id', () => 1000, () => f.a.meters.m1.id],
    ['flows.meter_registry', 'prepay_enabled', 'id', () => false, () => f.a.meters.m1.id],
  ];
  it.each(attempts)(
    '%s.%s: customer A1 updating their own row fails with 42501',
    async (table, column, key, value, id) => {
      const result = await asRole(pool, 'customer', c1().claims, (c) =>
        attempt(c, `update ${table} set ${quoteIdent(column)} = $1 where ${quoteIdent(key)} = $2`, [value(), id()]),
      );
      expect(result.error?.code, describeError(result)).toBe('42501');
    },
  );

  it('customer A1 may change only name, email, phone, contact_preferences and notification preferences, and only of their own row', async () => {
    const writable = await many<{ name: string }>(
      pool,
      `select format('%s %I.%I.%I', p.priv, n.nspname, c.relname, a.attname) as name
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        cross join unnest(array['INSERT', 'UPDATE']) p(priv)
        where n.nspname in ('public', 'flows') and c.relkind in ('r', 'p', 'v', 'm', 'f')
          and has_column_privilege('customer', c.oid, a.attnum, p.priv)
       union all
       select format('DELETE %I.%I', n.nspname, c.relname)
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname in ('public', 'flows') and c.relkind in ('r', 'p', 'v', 'm', 'f')
          and has_table_privilege('customer', c.oid, 'DELETE, TRUNCATE')
        order by 1`,
    );
    expect(writable.map((w) => w.name)).toEqual([
      'UPDATE public.customers.contact_preferences',
      'UPDATE public.customers.email',
      'UPDATE public.customers.name',
      'UPDATE public.customers.phone',
      // Their notification preferences (issue 8).
      'UPDATE public.notification_preferences.email_kinds',
      'UPDATE public.notification_preferences.low_balance_threshold_gbp',
      'UPDATE public.notification_preferences.quiet_hours_end',
      'UPDATE public.notification_preferences.quiet_hours_start',
      'UPDATE public.notification_preferences.sms_kinds',
    ]);
    await asRole(pool, 'customer', c1().claims, async (c) => {
      const own = await attempt(
        c,
        `update public.customers set name = 'New Name', phone = '+447700900999' where id = $1`,
        [c1().id],
      );
      expect(describeError(own)).toBe('ok, 1 row(s)');
      for (const other of [f.a.customers.c2, f.b.customers.c1]) {
        const theirs = await attempt(c, `update public.customers set name = 'New Name' where id = $1`, [other.id]);
        expect(describeError(theirs), `updating ${other.key}`).toBe('ok, 0 row(s)');
      }
    });
  });
});

describe('removing a membership revokes access within the same token', () => {
  const scoped = relations.filter((r) => access(r.name, 'operator')?.scope === 'esco');
  it.each(scoped.map((r) => r.name))('%s: operator of A sees nothing of A once removed', async (name) => {
    const self = new Set([f.a.operator.id, f.a.operator.sub]);
    await asRole(pool, 'operator', f.a.operator.claims, async (c) => {
      const before = await attempt(c, `select to_jsonb(t) as row from ${name} t`);
      expect(
        before.rows.filter((r) => findOwn(f, r.row, opA).length > 0).length,
        `before: ${describeError(before)}`,
      ).toBeGreaterThan(0);
      await c.query('reset role');
      await c.query(`delete from public.operator_escos where operator = $1`, [f.a.operator.id]);
      await c.query(`select set_config('role', 'operator', true)`);
      const after = await attempt(c, `select to_jsonb(t) as row from ${name} t`);
      const tenantRows = after.rows.filter((r) =>
        [...findOwn(f, r.row, opA), ...findForbidden(f, r.row, opA)].some((m) => !self.has(m)),
      );
      expect(tenantRows.map((r) => r.row)).toEqual([]);
    });
  });
});

describe('exposed functions reveal nothing of anyone else', () => {
  const cases = functions.flatMap((fn) =>
    (functionMap[fn.key]?.(f) ?? []).map(
      (a) => [`${fn.signature} · ${actorName(a.actor)} · ${a.label}`, fn, a] as const,
    ),
  );
  it.each(cases)('%s', async (_name, fn, call) => {
    const names = fn.args.map((a) => a.name);
    const unknown = Object.keys(call.args).filter((k) => !names.includes(k));
    expect(unknown, `arguments ${fn.signature} does not take`).toEqual([]);
    const given = Object.keys(call.args);
    const params = given.map((k, i) => `${quoteIdent(k)} => $${i + 1}::${fn.args.find((a) => a.name === k)!.type}`);
    const values = given.map((k) => {
      const v = call.args[k];
      return v !== null && typeof v === 'object' ? JSON.stringify(v) : v;
    });
    const sql = fn.returnsVoid
      ? `select ${fn.key}(${params.join(', ')})::text as row`
      : `select to_jsonb(r) as row from ${fn.key}(${params.join(', ')}) r`;
    const { result, harm } = await asActor(call.actor, async (c, damage) => {
      const result = await attempt(c, sql, values);
      return { result, harm: await damage() };
    });
    // What the caller passed in is not a leak when it comes back (in an error message, say).
    const passed = new Set(findForbidden(f, call.args, call.actor));
    const revealed = [
      ...findForbidden(f, result.rows, call.actor),
      ...(result.error
        ? findForbidden(
            f,
            [result.error.message, result.error.detail, result.error.hint].join(' ').split(/[\s,'"()]+/),
            call.actor,
          )
        : []),
    ].filter((m) => !passed.has(m));
    expect(revealed, describeError(result)).toEqual([]);
    expect(harm).toEqual([]);
    if (call.check && !result.error) expect(call.check(result.rows.map((r) => r.row as Row))).toBeUndefined();
    if (call.succeeds) expect(result.error, describeError(result)).toBeUndefined();
    if (call.failsWith) expect(result.error?.code, describeError(result)).toBe(call.failsWith);
    if (call.seesOwn) expect(findOwn(f, result.rows, call.actor).length, 'own data returned').toBeGreaterThan(0);
  });
});
