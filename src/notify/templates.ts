// Message templates: one per event kind, each with its payload schema, a sample payload (for
// `flows notify preview` and the tests) and a renderer giving the email subject, plain text and HTML
// and the SMS text (GSM-7, one segment where possible). Money arrives as decimal strings, dates as
// ISO strings; both are shown en-GB (Europe/London).
import { z } from 'zod';
import { escapeHtml, formatDate, formatDateTime, formatGbp, formatPence } from './format.ts';
import { toGsm7 } from './gsm7.ts';

const money = z.string().regex(/^-?\d+(\.\d+)?$/, { error: 'expected a decimal amount' });
const instant = z.union([z.iso.datetime({ offset: true }), z.iso.datetime()]);
const day = z.iso.date();
const common = { name: z.string().max(200).optional(), esco_name: z.string().max(200).optional() };

export interface Rendered {
  subject: string;
  text: string;
  html: string;
  sms: string;
}

interface Body {
  subject: string;
  /** Paragraphs of the email body. */
  paragraphs: string[];
  sms: string;
}

interface Template<S extends z.ZodType> {
  audience: 'customer' | 'operator';
  description: string;
  schema: S;
  sample: z.input<S>;
  body: (p: z.infer<S>) => Body;
}

const define = <S extends z.ZodType>(t: Template<S>) => t;

/** Shortens a value for an SMS (keeps it within one segment). */
const short = (s: string | undefined, max: number) =>
  s === undefined ? '' : s.length <= max ? s : `${s.slice(0, max - 1)}.`;
const from = (p: { esco_name?: string | undefined }) => short(p.esco_name ?? 'Flows', 20);

const documentKind = { invoice: 'invoice', statement: 'statement', credit_note: 'credit note' } as const;
const methods = { bank_transfer: 'bank transfer', card: 'card', direct_debit: 'Direct Debit', cash: 'cash' } as const;

export const templates = {
  invoice_issued: define({
    audience: 'customer',
    description: 'An invoice, statement or credit note was issued (email with the PDF attached).',
    schema: z.object({
      ...common,
      invoice_id: z.uuid(),
      kind: z.enum(['invoice', 'statement', 'credit_note']),
      number: z.string(),
      total_gbp: money,
      due_date: day.nullish(),
      period_start: day,
      period_end: day,
    }),
    sample: {
      name: 'Ada Lovelace',
      esco_name: 'Sunny Meadows Energy',
      invoice_id: '00000000-0000-4000-8000-000000000001',
      kind: 'invoice',
      number: 'SME-INV-000123',
      total_gbp: '84.37',
      due_date: '2026-12-15',
      period_start: '2026-10-01',
      period_end: '2026-10-31',
    },
    body: (p) => ({
      subject: `Your ${documentKind[p.kind]} ${p.number}: ${formatGbp(p.total_gbp)}`,
      paragraphs: [
        `Your ${documentKind[p.kind]} ${p.number} for ${formatDate(p.period_start)} to ${formatDate(p.period_end)} is attached: ${formatGbp(p.total_gbp)}${p.due_date && p.kind === 'invoice' ? `, due by ${formatDate(p.due_date)}` : ''}.`,
        'You can also see it, and pay, in your account online.',
      ],
      sms: `${from(p)}: ${documentKind[p.kind]} ${p.number} for ${formatGbp(p.total_gbp)}${p.due_date && p.kind === 'invoice' ? ` due ${formatDate(p.due_date)}` : ''}. Details by email.`,
    }),
  }),
  payment_received: define({
    audience: 'customer',
    description: 'A payment was received on the account.',
    schema: z.object({
      ...common,
      payment_id: z.uuid(),
      amount_gbp: money,
      received_at: instant,
      method: z.enum(['bank_transfer', 'card', 'direct_debit', 'cash']),
    }),
    sample: {
      name: 'Ada Lovelace',
      esco_name: 'Sunny Meadows Energy',
      payment_id: '00000000-0000-4000-8000-000000000002',
      amount_gbp: '84.37',
      received_at: '2026-12-03T10:12:00Z',
      method: 'bank_transfer',
    },
    body: (p) => ({
      subject: `Thank you: we received ${formatGbp(p.amount_gbp)}`,
      paragraphs: [
        `We received your ${methods[p.method]} payment of ${formatGbp(p.amount_gbp)} on ${formatDate(p.received_at)}. Thank you.`,
      ],
      sms: `${from(p)}: we received your payment of ${formatGbp(p.amount_gbp)} on ${formatDate(p.received_at)}. Thank you.`,
    }),
  }),
  payment_overdue: define({
    audience: 'customer',
    description: 'An invoice reached a reminder step past its due date (public.payment_reminders).',
    schema: z.object({
      ...common,
      number: z.string(),
      outstanding_gbp: money,
      due_date: day,
      days_overdue: z.number().int().optional(),
    }),
    sample: {
      name: 'Ada Lovelace',
      esco_name: 'Sunny Meadows Energy',
      number: 'SME-INV-000123',
      outstanding_gbp: '84.37',
      due_date: '2026-12-15',
      days_overdue: 14,
    },
    body: (p) => ({
      subject: `Payment overdue: invoice ${p.number}`,
      paragraphs: [
        `Invoice ${p.number} was due on ${formatDate(p.due_date)}${p.days_overdue ? ` (${p.days_overdue} day${p.days_overdue === 1 ? '' : 's'} ago)` : ''} and ${formatGbp(p.outstanding_gbp)} is still outstanding.`,
        'Please pay as soon as you can, or contact us if you are having difficulty: we can help.',
      ],
      sms: `${from(p)}: invoice ${p.number} (${formatGbp(p.outstanding_gbp)}) was due ${formatDate(p.due_date)}. Please pay or call us if you need help.`,
    }),
  }),
  topup_completed: define({
    audience: 'customer',
    description: 'A top-up reached the meter (its balance rose).',
    schema: z.object({
      ...common,
      amount_gbp: money,
      meter_serial: z.string(),
      balance_gbp: money.nullish(),
      at: instant.nullish(),
    }),
    sample: {
      name: 'Ada Lovelace',
      esco_name: 'Sunny Meadows Energy',
      amount_gbp: '20.00',
      meter_serial: 'EML2137580826',
      balance_gbp: '27.45',
      at: '2026-11-28T14:05:00Z',
    },
    body: (p) => ({
      subject: `Your top-up of ${formatGbp(p.amount_gbp)} has reached your meter`,
      paragraphs: [
        `Your top-up of ${formatGbp(p.amount_gbp)} reached meter ${p.meter_serial}${p.at ? ` at ${formatDateTime(p.at)}` : ''}.`,
        ...(p.balance_gbp ? [`Your balance is now ${formatGbp(p.balance_gbp)}.`] : []),
      ],
      sms: `${from(p)}: your top-up of ${formatGbp(p.amount_gbp)} reached meter ${p.meter_serial}.${p.balance_gbp ? ` Balance ${formatGbp(p.balance_gbp)}.` : ''}`,
    }),
  }),
  topup_failed: define({
    audience: 'customer',
    description: 'A top-up could not be delivered to the meter.',
    schema: z.object({ ...common, amount_gbp: money, meter_serial: z.string(), at: instant.nullish() }),
    sample: {
      name: 'Ada Lovelace',
      esco_name: 'Sunny Meadows Energy',
      amount_gbp: '20.00',
      meter_serial: 'EML2137580826',
      at: '2026-11-28T14:05:00Z',
    },
    body: (p) => ({
      subject: `Your top-up of ${formatGbp(p.amount_gbp)} could not be delivered`,
      paragraphs: [
        `We could not deliver your top-up of ${formatGbp(p.amount_gbp)} to meter ${p.meter_serial}.`,
        'Your money is safe: we will contact you, or you can call us to arrange it another way.',
      ],
      sms: `${from(p)}: your top-up of ${formatGbp(p.amount_gbp)} could not reach meter ${p.meter_serial}. Your money is safe; please call us.`,
    }),
  }),
  topup_failed_operator: define({
    audience: 'operator',
    description:
      'A top-up could not be delivered after the job’s retries; the money stays as account credit (operators).',
    schema: z.object({
      ...common,
      topup_id: z.uuid(),
      amount_gbp: money,
      meter_serial: z.string(),
      account_number: z.string(),
      error: z.string(),
      paid: z.boolean(),
      at: instant.nullish(),
    }),
    sample: {
      esco_name: 'Sunny Meadows Energy',
      topup_id: '00000000-0000-4000-8000-000000000003',
      amount_gbp: '20.00',
      meter_serial: 'EML2137580826',
      account_number: 'SME-0042',
      error: 'the meter rejected the token',
      paid: true,
      at: '2026-11-28T14:05:00Z',
    },
    body: (p) => ({
      subject: `Top-up of ${formatGbp(p.amount_gbp)} to meter ${p.meter_serial} failed`,
      paragraphs: [
        `The top-up of ${formatGbp(p.amount_gbp)} for account ${p.account_number} could not be delivered to meter ${p.meter_serial}${p.at ? ` (${formatDateTime(p.at)})` : ''}: ${p.error}.`,
        p.paid
          ? 'The payment stays on the account as credit. Please contact the customer and arrange the credit another way.'
          : 'No payment was taken for it. Please check the meter and contact the customer.',
        `Top-up ${p.topup_id}.`,
      ],
      sms: `${from(p)}: top-up ${formatGbp(p.amount_gbp)} to meter ${p.meter_serial} (acct ${short(p.account_number, 16)}) FAILED.${p.paid ? ' Money kept as account credit.' : ''}`,
    }),
  }),
  low_balance: define({
    audience: 'customer',
    description: 'A prepay balance fell below the customer’s threshold (at most once a day per meter).',
    schema: z.object({
      ...common,
      meter_serial: z.string(),
      balance_gbp: money,
      threshold_gbp: money,
      emergency_credit_gbp: money.optional(),
    }),
    sample: {
      name: 'Ada Lovelace',
      esco_name: 'Sunny Meadows Energy',
      meter_serial: 'EML2137580826',
      balance_gbp: '3.20',
      threshold_gbp: '5.00',
    },
    body: (p) => ({
      subject: `Your credit is low: ${formatGbp(p.balance_gbp)}`,
      paragraphs: [
        `The balance on meter ${p.meter_serial} is ${formatGbp(p.balance_gbp)}, below the ${formatGbp(p.threshold_gbp)} you asked us to warn you at.`,
        'Top up soon to stay on supply.',
      ],
      sms: `${from(p)}: credit on meter ${p.meter_serial} is ${formatGbp(p.balance_gbp)}. Top up soon to stay on supply.`,
    }),
  }),
  off_supply: define({
    audience: 'customer',
    description: 'A prepay meter ran out of credit, emergency credit included (customers and operators).',
    schema: z.object({
      ...common,
      meter_serial: z.string(),
      balance_gbp: money,
      emergency_credit_gbp: money.optional(),
      at: instant.nullish(),
    }),
    sample: {
      name: 'Ada Lovelace',
      esco_name: 'Sunny Meadows Energy',
      meter_serial: 'EML2137580826',
      balance_gbp: '-5.00',
      emergency_credit_gbp: '5.00',
      at: '2026-11-28T02:30:00Z',
    },
    body: (p) => ({
      subject: `Meter ${p.meter_serial} is off supply: no credit left`,
      paragraphs: [
        `Meter ${p.meter_serial} has used all its credit, emergency credit included${p.at ? `, as of ${formatDateTime(p.at)}` : ''}. The supply is off until it is topped up.`,
        'Top up now, or call us if you need help: we can arrange support.',
      ],
      sms: `${from(p)}: meter ${p.meter_serial} is OFF SUPPLY (no credit left). Top up now or call us for help.`,
    }),
  }),
  tariff_change: define({
    audience: 'customer',
    description: 'Notice of a new tariff, at least 30 days before it takes effect.',
    schema: z.object({
      ...common,
      effective_from: day,
      unit_rate_gbp_kwh: money,
      standing_charge_gbp_day: money,
      late: z.boolean().optional(),
    }),
    sample: {
      name: 'Ada Lovelace',
      esco_name: 'Sunny Meadows Energy',
      effective_from: '2027-01-01',
      unit_rate_gbp_kwh: '0.21450',
      standing_charge_gbp_day: '0.41230',
    },
    body: (p) => ({
      subject: `Your tariff changes on ${formatDate(p.effective_from)}`,
      paragraphs: [
        `From ${formatDate(p.effective_from)} your unit rate will be ${formatPence(p.unit_rate_gbp_kwh)} per kWh and your standing charge ${formatPence(p.standing_charge_gbp_day)} per day (excluding VAT).`,
        'You do not need to do anything. If you have questions, reply to this email or call us.',
      ],
      sms: `${from(p)}: from ${formatDate(p.effective_from)} your rate is ${formatPence(p.unit_rate_gbp_kwh)}/kWh, standing charge ${formatPence(p.standing_charge_gbp_day)}/day (ex VAT).`,
    }),
  }),
  meter_offline: define({
    audience: 'operator',
    description: 'A meter has not reported for the ESCO’s offline_after_hours (operators).',
    schema: z.object({ ...common, meter_serial: z.string(), last_seen: instant, hours: z.number().int() }),
    sample: {
      esco_name: 'Sunny Meadows Energy',
      meter_serial: 'EML2137580826',
      last_seen: '2026-11-28T03:00:00Z',
      hours: 6,
    },
    body: (p) => ({
      subject: `Meter ${p.meter_serial} offline for over ${p.hours} hours`,
      paragraphs: [
        `Meter ${p.meter_serial} has not reported since ${formatDateTime(p.last_seen)} (over ${p.hours} hours).`,
      ],
      sms: `${from(p)}: meter ${p.meter_serial} offline since ${formatDateTime(p.last_seen)}.`,
    }),
  }),
  meter_recovered: define({
    audience: 'operator',
    description: 'A meter reported offline has reported again (operators).',
    schema: z.object({ ...common, meter_serial: z.string(), offline_since: instant, recovered_at: instant }),
    sample: {
      esco_name: 'Sunny Meadows Energy',
      meter_serial: 'EML2137580826',
      offline_since: '2026-11-28T03:00:00Z',
      recovered_at: '2026-11-28T11:15:00Z',
    },
    body: (p) => ({
      subject: `Meter ${p.meter_serial} is back online`,
      paragraphs: [
        `Meter ${p.meter_serial}, silent since ${formatDateTime(p.offline_since)}, reported again at ${formatDateTime(p.recovered_at)}.`,
      ],
      sms: `${from(p)}: meter ${p.meter_serial} back online at ${formatDateTime(p.recovered_at)}.`,
    }),
  }),
} as const;

export type TemplateName = keyof typeof templates;
export const templateNames = Object.keys(templates) as TemplateName[];

export class TemplateError extends Error {
  constructor(
    readonly template: string,
    readonly problems: string[],
  ) {
    super(`template ${template}: ${problems.join('; ')}`);
    this.name = 'TemplateError';
  }
}

export function isTemplateName(name: string): name is TemplateName {
  return Object.hasOwn(templates, name);
}

/** Renders a template for a payload; a bad name or payload is a TemplateError (permanent: retrying cannot help). */
export function render(name: string, payload: unknown): Rendered {
  if (!isTemplateName(name)) throw new TemplateError(name, [`unknown template (known: ${templateNames.join(', ')})`]);
  const template: Template<z.ZodType> = templates[name];
  const parsed = template.schema.safeParse(payload);
  if (!parsed.success) {
    throw new TemplateError(
      name,
      parsed.error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`),
    );
  }
  const p = parsed.data as { name?: string; esco_name?: string };
  const body = template.body(parsed.data);
  const greeting = template.audience === 'customer' ? `Dear ${p.name ?? 'customer'},` : 'Hello,';
  const signOff = p.esco_name ?? 'Flows';
  const text = [greeting, ...body.paragraphs, `${signOff}`].join('\n\n') + '\n';
  const html =
    `<!doctype html><html lang="en-GB"><head><meta charset="utf-8"><title>${escapeHtml(body.subject)}</title></head>` +
    `<body><p>${escapeHtml(greeting)}</p>${body.paragraphs.map((x) => `<p>${escapeHtml(x)}</p>`).join('')}` +
    `<p>${escapeHtml(signOff)}</p></body></html>`;
  return { subject: body.subject, text, html, sms: toGsm7(body.sms) };
}

/** The sample payload of a template (preview, tests). */
export function samplePayload(name: TemplateName): unknown {
  return templates[name].sample;
}
