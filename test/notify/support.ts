// Notification tests: a real SMTP server (smtp-server) in the test process that parses every email it
// accepts (mailparser), a node:http stand-in for Twilio's Messages API with scripted failures, a
// millisecond configuration, and a runner that drains the notify jobs as the worker role.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { runOnce } from 'graphile-worker';
import { simpleParser, type ParsedMail } from 'mailparser';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import type { NotifyConfig } from '../../src/config.ts';
import { one } from '../../src/db/client.ts';
import { createLogger } from '../../src/log.ts';
import { notifyTask } from '../../src/notify/tasks.ts';
import { workerLogger } from '../../src/worker/run.ts';
import type { TestDatabase } from '../support/database.ts';
import { workerPool } from '../support/worker.ts';

const log = createLogger({ env: 'test', logLevel: 'silent', shutdownTimeoutMs: 1000 });

export interface Mailbox {
  port: number;
  received: ParsedMail[];
  /** Envelope recipients of each accepted message, in order. */
  envelopes: string[][];
  stop(): Promise<void>;
  /** Listens again on the same port (after stop). */
  start(): Promise<void>;
  /** Settles when `n` messages have arrived. */
  waitFor(n: number): Promise<void>;
}

export async function startMailbox(port = 0): Promise<Mailbox> {
  const received: ParsedMail[] = [];
  const envelopes: string[][] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let server: SMTPServer | undefined;
  const box: Mailbox = {
    port,
    received,
    envelopes,
    async start() {
      server = new SMTPServer({
        authOptional: true,
        disabledCommands: ['STARTTLS'],
        logger: false,
        onRcptTo(address, _session, callback) {
          if (address.address.endsWith('@invalid.example')) {
            callback(Object.assign(new Error('no such user'), { responseCode: 550 }));
          } else callback();
        },
        onData(stream, session, callback) {
          simpleParser(stream)
            .then((mail) => {
              received.push(mail);
              envelopes.push(session.envelope.rcptTo.map((r) => r.address));
              for (const w of waiters.filter((x) => received.length >= x.n)) w.resolve();
              callback();
            })
            .catch((error: Error) => callback(error));
        },
      });
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(box.port, '127.0.0.1', () => resolve());
      });
      box.port = (server.server.address() as AddressInfo).port;
      // A client that goes away mid-session (a worker killed while sending) is the client's problem.
      server.on('error', () => {});
    },
    async stop() {
      const s = server;
      server = undefined;
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    waitFor(n) {
      if (received.length >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
  };
  await box.start();
  return box;
}

export interface TwilioRequest {
  path: string;
  authorization: string | undefined;
  form: URLSearchParams;
}
export interface TwilioStandIn {
  url: string;
  requests: TwilioRequest[];
  /** Scripted responses, used first to last; when empty every request succeeds. */
  script: { status: number; body: Record<string, unknown> }[];
  stop(): Promise<void>;
}

export const TWILIO_SID = `AC${'0123456789abcdef'.repeat(2)}`;

export async function startTwilio(): Promise<TwilioStandIn> {
  const requests: TwilioRequest[] = [];
  let counter = 0;
  const standIn: TwilioStandIn = { url: '', requests, script: [], stop: async () => undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      requests.push({ path: req.url ?? '', authorization: req.headers.authorization, form });
      const scripted = standIn.script.shift();
      const ok = {
        status: 201,
        body: {
          sid: `SM${String(++counter).padStart(32, '0')}`,
          account_sid: TWILIO_SID,
          to: form.get('To'),
          from: form.get('From'),
          body: form.get('Body'),
          status: 'queued',
          num_segments: '1',
        },
      };
      const { status, body } = scripted ?? ok;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  standIn.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  standIn.stop = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return standIn;
}

/** Millisecond timings: 3 attempts, backoff 20 ms doubling to 40 ms, no rate limit unless asked. */
export function testNotifyConfig(mailbox: Mailbox | undefined, twilio: TwilioStandIn | undefined): NotifyConfig {
  return {
    smtpUrl: mailbox ? `smtp://127.0.0.1:${mailbox.port}` : undefined,
    emailFrom: 'Flows Test <no-reply@flows.test>',
    twilio: twilio ? { accountSid: TWILIO_SID, authToken: 'test-token', from: '+447700900000' } : undefined,
    twilioApiBaseUrl: twilio?.url ?? 'http://127.0.0.1:9',
    maxAttempts: 3,
    backoffMs: 20,
    maxBackoffMs: 40,
    sendTimeoutMs: 2000,
    emailMinIntervalMs: 0,
    smsMinIntervalMs: 0,
  };
}

/**
 * Runs the notify jobs as the worker role until none is due within `horizonMs` (jobs rescheduled by backoff
 * or the rate limit a few milliseconds ahead are waited for; quiet-hours delays are not).
 */
export async function runNotifyJobs(db: TestDatabase, config: NotifyConfig, horizonMs = 500): Promise<void> {
  const pool = workerPool(db, 6);
  const taskList = { notify__email: notifyTask('email', () => config), notify__sms: notifyTask('sms', () => config) };
  try {
    for (;;) {
      await runOnce({ pgPool: pool, taskList, logger: workerLogger(log) });
      const next = await one<{ wait_ms: number | null }>(
        pool,
        `select (extract(epoch from min(run_at) - now()) * 1000)::int as wait_ms from graphile_worker.jobs
          where task_identifier like 'notify\\_\\_%' and locked_at is null and attempts < max_attempts`,
      );
      if (next.wait_ms === null || next.wait_ms > horizonMs) return;
      if (next.wait_ms > 0) await new Promise((resolve) => setTimeout(resolve, next.wait_ms! + 5));
    }
  } finally {
    await pool.end();
  }
}

let counter = 0;

export interface Household {
  esco: string;
  code: string;
  customer: string;
  account: string;
  meter: string;
  serial: string;
  subscription: string;
}

/** An ESCO with one prepay customer supplied through one meter, and an operator alert subscription. */
export async function household(
  pool: pg.Pool,
  options: { email?: string | null; phone?: string | null; vulnerable?: boolean; name?: string } = {},
): Promise<Household> {
  const n = ++counter;
  const code = `N${n}${Math.random().toString(36).slice(2, 6).toUpperCase()}`;
  const q = async (sql: string, values: unknown[]) => (await one<{ id: string }>(pool, sql, values)).id;
  const esco = await q(`insert into flows.escos (code, name, region) values ($1, $2, 'A') returning id`, [
    code,
    `${code} Community Energy`,
  ]);
  const site = await q(`insert into flows.sites_new (esco, name, code) values ($1, 'Site', $2) returning id`, [
    esco,
    `${code}-S`,
  ]);
  const property = await q(
    `insert into flows.properties (esco, site, plot, address) values ($1, $2, 'P1', '1 Lane') returning id`,
    [esco, site],
  );
  const feeder = await q(`insert into flows.feeder_registry (esco, name) values ($1, $2) returning id`, [
    esco,
    `${code} F`,
  ]);
  const sh = await q(
    `insert into flows.service_head_registry (esco, feeder, name, phase, type)
     values ($1, $2, $3, 1, 'customer_owned') returning id`,
    [esco, feeder, `${code} SH`],
  );
  const serial = `${code}-M1`;
  const meter = await q(
    `insert into flows.meter_registry (esco, serial, ip_address, prepay_enabled) values ($1, $2, $3, true) returning id`,
    [esco, serial, `10.77.${n % 250}.${1 + Math.floor(Math.random() * 250)}`],
  );
  await pool.query(`insert into flows.properties_service_head (property, service_head, esco) values ($1, $2, $3)`, [
    property,
    sh,
    esco,
  ]);
  await pool.query(`insert into flows.service_head_meter (service_head, meter, esco) values ($1, $2, $3)`, [
    sh,
    meter,
    esco,
  ]);
  await pool.query(`insert into flows.meter_shadows (id, esco) values ($1, $2) on conflict do nothing`, [meter, esco]);
  const customer = await q(
    `insert into public.customers (esco, name, email, phone, vulnerable) values ($1, $2, $3, $4, $5) returning id`,
    [
      esco,
      options.name ?? 'Ada Lovelace',
      options.email === undefined ? `ada.${n}@example.org` : options.email,
      options.phone === undefined ? `+4477009${String(n).padStart(5, '0')}` : options.phone,
      options.vulnerable ?? false,
    ],
  );
  const account = await q(
    `insert into public.accounts (esco, account_number, billing_mode, payment_reference)
     values ($1, 'ACC-1', 'prepay', $2) returning id`,
    [esco, `${code}-PAY`.slice(0, 18)],
  );
  await pool.query(`insert into public.customer_accounts (customer, account, esco) values ($1, $2, $3)`, [
    customer,
    account,
    esco,
  ]);
  await pool.query(
    `insert into public.account_supplies (account, property, esco, start_date) values ($1, $2, $3, current_date - 30)`,
    [account, property, esco],
  );
  const subscription = await q(
    `insert into public.operator_alert_subscriptions (esco, channel, address) values ($1, 'email', $2) returning id`,
    [esco, `ops.${n}@example.org`],
  );
  return { esco, code, customer, account, meter, serial, subscription };
}
