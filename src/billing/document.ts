// The invoice document: HTML and PDF (pdfkit) from internal.invoice_document_data, with the ESCO's
// details, the lines, the reads used, VAT and totals, payment reference and instructions, and a daily
// consumption chart. Money stays a decimal string end to end: this module formats, it never computes.
import PDFDocument from 'pdfkit';
import { z } from 'zod';
import { many, one, type Queryable } from '../db/client.ts';

const decimal = z.string().regex(/^-?\d+(\.\d+)?$/);
const line = z.object({
  line_type: z.string(),
  element: z.string().nullable(),
  description: z.string(),
  quantity: decimal,
  unit: z.string(),
  unit_price: decimal,
  amount: decimal,
  from_date: z.string(),
  to_date: z.string(),
  estimated: z.boolean(),
});
export const documentData = z.object({
  invoice: z.object({
    id: z.string(),
    kind: z.enum(['invoice', 'statement', 'credit_note']),
    status: z.string(),
    number: z.string().nullable(),
    period_start: z.string(),
    period_end: z.string(),
    is_final: z.boolean(),
    estimated: z.boolean(),
    vat_rate_pct: decimal,
    supply_subtotal: decimal,
    vat: decimal,
    export_credit: decimal,
    community_credit: decimal,
    meter_credit: decimal,
    total: decimal,
    balance_brought_forward: decimal,
    amount_due: decimal,
    issued_at: z.string().nullable(),
    due_date: z.string().nullable(),
    meter_charged_gbp: decimal.nullable(),
    drift_gbp: decimal.nullable(),
    drift_flagged: z.boolean(),
    credits_number: z.string().nullable(),
  }),
  lines: z.array(line),
  esco: z.object({ code: z.string(), name: z.string() }),
  settings: z
    .object({
      legal_name: z.string(),
      address: z.string(),
      vat_registration: z.string().nullable(),
      bank_details: z.string(),
      payment_instructions: z.string(),
      contact_email: z.string().nullable(),
      contact_phone: z.string().nullable(),
    })
    .nullable(),
  account: z.object({ account_number: z.string(), payment_reference: z.string(), billing_mode: z.string() }),
  customer: z.object({ name: z.string() }).nullable(),
  properties: z.array(z.string()),
  reads: z.array(
    z.object({ serial: z.string(), element: z.string(), kind: z.string(), at: z.string(), read: decimal }),
  ),
  daily: z.array(z.object({ day: z.string(), kwh: decimal })),
});
export type DocumentData = z.infer<typeof documentData>;

export async function loadDocumentData(db: Queryable, invoiceId: string): Promise<DocumentData> {
  const row = await one<{ data: unknown }>(db, `select internal.invoice_document_data($1) as data`, [invoiceId]);
  if (row.data === null) throw new Error(`invoice ${invoiceId} not found`);
  return documentData.parse(row.data);
}

const titles = { invoice: 'Invoice', statement: 'Statement', credit_note: 'Credit note' } as const;
const lineTitles: Record<string, string> = {
  standing_charge: 'Standing charge',
  unit_charge: 'Energy',
  export_credit: 'Export credit',
  community_credit: 'Community solar credit',
  adjustment: 'Adjustment',
  meter_credit: 'Prepay meter credit',
  account_balance: 'Account balance',
};

/** £ with a minus sign for credits: "£12.40", "−£3.72". */
export function gbp(amount: string): string {
  return amount.startsWith('-') ? `−£${amount.slice(1)}` : `£${amount}`;
}

const lastDay = (exclusiveEnd: string) => {
  const d = new Date(`${exclusiveEnd}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - 1);
  return d.toISOString().slice(0, 10);
};

function summary(d: DocumentData): [string, string][] {
  const i = d.invoice;
  const rows: [string, string][] = [
    ['Supply charges', gbp(i.supply_subtotal)],
    [`VAT at ${i.vat_rate_pct}%`, gbp(i.vat)],
  ];
  if (i.export_credit !== '0.00') rows.push(['Export credit (no VAT)', gbp(i.export_credit)]);
  if (i.community_credit !== '0.00') rows.push(['Community solar credit (no VAT)', gbp(i.community_credit)]);
  if (i.meter_credit !== '0.00') rows.push(['Prepay meter credit at move-out (no VAT)', gbp(i.meter_credit)]);
  rows.push([i.kind === 'credit_note' ? 'Total credited' : 'Total', gbp(i.total)]);
  if (!i.is_final || i.kind === 'credit_note') return rows;
  if (i.balance_brought_forward !== '0.00') {
    rows.push([
      i.balance_brought_forward.startsWith('-') ? 'Credit on your account brought forward' : 'Balance brought forward',
      gbp(i.balance_brought_forward),
    ]);
  }
  rows.push(
    i.amount_due.startsWith('-')
      ? ['Credit to be refunded to you', gbp(i.amount_due.slice(1))]
      : ['Amount due', gbp(i.amount_due)],
  );
  return rows;
}

const escape = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Bar heights (0–1) of the daily chart; kWh only sizes bars, it is never money. */
function bars(d: DocumentData): { day: string; height: number }[] {
  const values = d.daily.map((x) => Number(x.kwh));
  const max = Math.max(0.001, ...values);
  return d.daily.map((x, k) => ({ day: x.day, height: values[k]! / max }));
}

export function renderHtml(d: DocumentData): string {
  const i = d.invoice;
  const s = d.settings;
  const title = `${titles[i.kind]} ${i.number ?? '(draft)'}`;
  const chart = bars(d);
  const w = 600;
  const h = 120;
  const bw = chart.length ? w / chart.length : w;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h + 20}" role="img" aria-label="Daily consumption">${chart
    .map(
      (b, k) =>
        `<rect x="${(k * bw + 1).toFixed(1)}" y="${(h - b.height * h).toFixed(1)}" width="${Math.max(1, bw - 2).toFixed(1)}" height="${(b.height * h).toFixed(1)}" fill="#2a7"><title>${escape(b.day)}: ${escape(d.daily[k]!.kwh)} kWh</title></rect>`,
    )
    .join('')}</svg>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font-family:sans-serif;max-width:800px;margin:2em auto}table{border-collapse:collapse;width:100%}td,th{padding:4px;border-bottom:1px solid #ddd;text-align:left}td.n,th.n{text-align:right}</style></head>
<body>
<header><h1>${escape(s?.legal_name ?? d.esco.name)}</h1>
<p>${escape(s?.address ?? '')}${s?.vat_registration ? `<br>VAT registration ${escape(s.vat_registration)}` : ''}${s?.contact_email ? `<br>${escape(s.contact_email)}` : ''}${s?.contact_phone ? ` · ${escape(s.contact_phone)}` : ''}</p></header>
<h2>${escape(title)}</h2>
<p>${escape(d.customer?.name ?? '')}<br>${d.properties.map(escape).join('<br>')}</p>
<p>Account ${escape(d.account.account_number)} · Period ${escape(i.period_start)} to ${escape(lastDay(i.period_end))}${i.issued_at ? ` · Issued ${escape(i.issued_at.slice(0, 10))}` : ''}${i.due_date && i.kind !== 'credit_note' ? ` · Due ${escape(i.due_date)}` : ''}${i.is_final ? ' · Final bill' : ''}${i.credits_number ? ` · Credits ${escape(i.credits_number)}` : ''}</p>
${i.estimated ? '<p><strong>Some consumption on this bill is estimated</strong>; a later bill adjusts it to actual readings.</p>' : ''}
<table><thead><tr><th>Item</th><th>Dates</th><th class="n">Quantity</th><th class="n">Unit price</th><th class="n">Amount</th></tr></thead><tbody>
${d.lines
  .map(
    (l) =>
      `<tr><td>${escape(lineTitles[l.line_type] ?? l.line_type)}: ${escape(l.description)}${l.estimated ? ' (estimated)' : ''}</td><td>${escape(l.from_date)} – ${escape(lastDay(l.to_date))}</td><td class="n">${escape(l.quantity)} ${escape(l.unit)}</td><td class="n">£${escape(l.unit_price)}</td><td class="n">${escape(gbp(l.amount))}</td></tr>`,
  )
  .join('\n')}
</tbody></table>
<table>${summary(d)
    .map(([k, v]) => `<tr><th>${escape(k)}</th><td class="n">${escape(v)}</td></tr>`)
    .join('')}</table>
${i.meter_charged_gbp !== null ? `<p>Your meter deducted ${escape(gbp(i.meter_charged_gbp))} over the period (difference ${escape(gbp(i.drift_gbp ?? '0.00'))}${i.drift_flagged ? ', under review' : ''}).</p>` : ''}
<h3>Meter readings used</h3>
<table><thead><tr><th>Meter</th><th>Register</th><th>Reading</th><th>Taken</th><th class="n">kWh</th></tr></thead><tbody>
${d.reads.map((r) => `<tr><td>${escape(r.serial)}</td><td>${escape(r.element)}</td><td>${escape(r.kind)} (actual)</td><td>${escape(r.at)}</td><td class="n">${escape(r.read)}</td></tr>`).join('\n')}
</tbody></table>
<h3>Daily consumption</h3>
${svg}
<h3>How to pay</h3>
<p>Payment reference: <strong>${escape(d.account.payment_reference)}</strong></p>
<p>${escape(s?.payment_instructions ?? '')}</p><p>${escape(s?.bank_details ?? '')}</p>
</body></html>
`;
}

export async function renderPdf(d: DocumentData): Promise<{ pdf: Buffer; pages: number }> {
  const i = d.invoice;
  const s = d.settings;
  const doc = new PDFDocument({
    size: 'A4',
    margin: 50,
    bufferPages: true,
    info: { Title: `${titles[i.kind]} ${i.number ?? ''}` },
  });
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    doc.on('end', () => resolve());
    doc.on('error', reject);
  });
  const left = 50;
  const right = doc.page.width - 50;
  const ensure = (space: number) => {
    if (doc.y + space > doc.page.height - 60) doc.addPage();
  };
  doc.fontSize(16).text(s?.legal_name ?? d.esco.name);
  doc
    .fontSize(9)
    .text(
      [
        s?.address,
        s?.vat_registration ? `VAT registration ${s.vat_registration}` : '',
        s?.contact_email,
        s?.contact_phone,
      ]
        .filter(Boolean)
        .join('\n'),
    );
  doc.moveDown();
  doc.fontSize(14).text(`${titles[i.kind]} ${i.number ?? '(draft)'}`);
  doc.fontSize(10).text(`${d.customer?.name ?? ''}\n${d.properties.join('\n')}`);
  doc.text(
    `Account ${d.account.account_number}   Period ${i.period_start} to ${lastDay(i.period_end)}` +
      (i.issued_at ? `   Issued ${i.issued_at.slice(0, 10)}` : '') +
      (i.due_date && i.kind !== 'credit_note' ? `   Due ${i.due_date}` : '') +
      (i.is_final ? '   Final bill' : '') +
      (i.credits_number ? `   Credits ${i.credits_number}` : ''),
  );
  if (i.estimated) doc.text('Some consumption on this bill is estimated; a later bill adjusts it to actual readings.');
  doc.moveDown();
  const cols = [left, left + 250, left + 330, left + 400, right - 60];
  const row = (cells: string[], bold = false) => {
    ensure(28);
    const y = doc.y;
    doc.font(bold ? 'Helvetica-Bold' : 'Helvetica').fontSize(8);
    // the standard PDF fonts have no U+2212 minus sign
    const text = cells.map((c) => c.replaceAll('−', '-'));
    doc.text(text[0] ?? '', cols[0]!, y, { width: 245 });
    const after = doc.y;
    text
      .slice(1)
      .forEach((c, k) => doc.text(c, cols[k + 1]!, y, { width: k === 3 ? 60 : 68, align: k === 0 ? 'left' : 'right' }));
    doc.x = left;
    doc.y = Math.max(after, y + 10) + 2;
  };
  row(['Item', 'Dates', 'Quantity', 'Unit price', 'Amount'], true);
  for (const l of d.lines) {
    row([
      `${lineTitles[l.line_type] ?? l.line_type}: ${l.description}${l.estimated ? ' (estimated)' : ''}`,
      `${l.from_date} – ${lastDay(l.to_date)}`,
      `${l.quantity} ${l.unit}`,
      `£${l.unit_price}`,
      gbp(l.amount),
    ]);
  }
  doc.moveDown();
  for (const [k, v] of summary(d))
    row([k, '', '', '', v], k.startsWith('Total') || k === 'Amount due' || k.startsWith('Credit to be refunded'));
  if (i.meter_charged_gbp !== null) {
    doc.moveDown().font('Helvetica').fontSize(9);
    doc.text(
      `Your meter deducted ${gbp(i.meter_charged_gbp)} over the period (difference ${gbp(i.drift_gbp ?? '0.00')}${i.drift_flagged ? ', under review' : ''}).`,
      left,
    );
  }
  doc.moveDown();
  ensure(40);
  doc.font('Helvetica-Bold').fontSize(11).text('Meter readings used', left);
  row(['Meter / register', 'Reading', 'Taken', '', 'kWh'], true);
  for (const r of d.reads) row([`${r.serial} ${r.element}`, `${r.kind} (actual)`, r.at.slice(0, 16), '', r.read]);
  doc.moveDown();
  ensure(170);
  doc.font('Helvetica-Bold').fontSize(11).text('Daily consumption (kWh)', left);
  const chart = bars(d);
  const top = doc.y + 5;
  const h = 120;
  const bw = chart.length ? (right - left) / chart.length : right - left;
  chart.forEach((b, k) => {
    doc.rect(left + k * bw + 1, top + h - b.height * h, Math.max(1, bw - 2), b.height * h).fill('#22aa77');
  });
  doc.fillColor('black');
  doc.y = top + h + 10;
  doc.moveDown();
  ensure(80);
  doc.font('Helvetica-Bold').fontSize(11).text('How to pay', left);
  doc.font('Helvetica').fontSize(9).text(`Payment reference: ${d.account.payment_reference}`);
  if (s?.payment_instructions) doc.text(s.payment_instructions);
  if (s?.bank_details) doc.text(s.bank_details);
  const pages = doc.bufferedPageRange().count;
  doc.end();
  await done;
  return { pdf: Buffer.concat(chunks), pages };
}

/** Renders and stores the documents of issued invoices that have none yet; returns how many. */
export async function renderPending(db: Queryable, signal?: AbortSignal): Promise<number> {
  let rendered = 0;
  for (;;) {
    const ids = await many<{ id: string }>(db, `select id from internal.invoice_documents_pending(50) id`);
    if (ids.length === 0) return rendered;
    for (const { id } of ids) {
      if (signal?.aborted) return rendered;
      await renderAndStore(db, id);
      rendered += 1;
    }
  }
}

export async function renderAndStore(db: Queryable, invoiceId: string): Promise<void> {
  const data = await loadDocumentData(db, invoiceId);
  const html = renderHtml(data);
  const { pdf, pages } = await renderPdf(data);
  await db.query(`select internal.invoice_document_store($1, $2, $3, $4)`, [invoiceId, html, pdf, pages]);
}
