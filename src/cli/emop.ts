// `flows emop <command> <serial>`: the operations of the emop CLI against one meter, found in
// flows.meter_registry (DATABASE_URL or the embedded database) or given by --host/--port, printed as JSON.
// Requests hold the meter's advisory lock when the database is open, so the CLI never talks to a meter at the
// same time as the worker. `flows emop decode <hex>` prints a frame (e.g. a real capture) as JSON.
import type { Command } from 'commander';
import pg from 'pg';
import { loadConfig } from '../config.ts';
import { openDatabase } from '../db/server.ts';
import { EmopClient, type CallOptions } from '../emop/client.ts';
import { describeFrame } from '../emop/describe.ts';
import { advisoryMeterLock, type WithConnection } from '../emop/pg-lock.ts';
import type { MeterTarget } from '../emop/session.ts';
import { emopConfig } from '../emop/sync/settings.ts';
import { MeterNotFoundError, MeterUnreachableError, meterBySerial, targetOf } from '../emop/sync/registry.ts';
import { createLogger } from '../log.ts';
import { exitOnSignals, onShutdown } from '../shutdown.ts';

interface EmopOptions {
  host?: string;
  port?: string;
  dst?: boolean;
  gapMs?: string;
  timeoutMs?: string;
  attempts?: string;
}

type Operation = (client: EmopClient, meter: MeterTarget, args: string[], call: CallOptions) => Promise<unknown>;

const operations: Record<string, { description: string; args?: string[]; run: Operation }> = {
  csq: { description: 'signal quality and network operator', run: (c, m, _a, o) => c.csq(m, o) },
  serial_read: { description: 'serial number', run: (c, m, _a, o) => c.serialRead(m, o) },
  hardware_read: { description: 'hardware version', run: (c, m, _a, o) => c.hardwareRead(m, o) },
  firmware_read: { description: 'firmware version', run: (c, m, _a, o) => c.firmwareRead(m, o) },
  clock_time_read: { description: "the meter's clock", run: (c, m, _a, o) => c.clockTimeRead(m, o) },
  clock_time_write: {
    description: "set the meter's clock to now (or --at)",
    args: ['[at]'],
    run: (c, m, [at], o) => c.clockTimeWrite(m, at ? parseDate(at) : new Date(), o),
  },
  instantaneous_voltage: { description: 'voltage, V', run: (c, m, _a, o) => c.instantaneousVoltage(m, o) },
  read_element_a: { description: 'element A registers (Wh, varh)', run: (c, m, _a, o) => c.readElementA(m, o) },
  read_element_b: { description: 'element B registers (Wh, varh)', run: (c, m, _a, o) => c.readElementB(m, o) },
  prepay_balance: { description: 'prepay balance, £', run: (c, m, _a, o) => c.prepayBalance(m, o) },
  prepay_enabled: { description: 'whether prepay mode is on', run: (c, m, _a, o) => c.prepayEnabled(m, o) },
  prepay_send_token: {
    description: 'send a 20-digit top-up token (once)',
    args: ['<token>'],
    run: async (c, m, [token], o) => {
      await c.prepaySendToken(m, token!, o);
      return 'sent';
    },
  },
  monetary_transaction_count: {
    description: 'monetary transaction count',
    run: (c, m, _a, o) => c.monetaryTransactionCount(m, o),
  },
  tariffs_active_read: { description: 'the tariff in force', run: (c, m, _a, o) => c.tariffsActiveRead(m, o) },
  tariffs_future_read: {
    description: 'the tariff pending activation',
    run: (c, m, _a, o) => c.tariffsFutureRead(m, o),
  },
  profile_log_1: {
    description: 'half-hourly import from <timestamp> (ISO 8601, e.g. 2024-08-21T14:00Z)',
    args: ['<timestamp>'],
    run: (c, m, [at], o) => c.profileLog1(m, parseDate(at!), o),
  },
  profile_log_2: {
    description: 'export, reactive and voltage records from <timestamp>; add "twin" for twin-element meters',
    args: ['<timestamp>', '[layout]'],
    run: (c, m, [at, layout], o) =>
      c.profileLog2(m, parseDate(at!), layout === 'twin' ? 'twinElement' : 'singleElement', o),
  },
};

function parseDate(text: string): Date {
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) throw new Error(`'${text}' is not a date and time (ISO 8601)`);
  return date;
}

function whole(option: string, value: string, min: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min)
    throw new Error(`${option}: '${value}' is not a whole number ≥ ${min}`);
  return Number(value);
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

async function runOperation(
  serial: string,
  options: EmopOptions,
  run: (client: EmopClient, meter: MeterTarget, call: CallOptions) => Promise<unknown>,
) {
  const { runtime } = loadConfig([]);
  const log = createLogger(runtime, 'command');
  const controller = new AbortController();
  exitOnSignals(log, runtime.shutdownTimeoutMs);
  onShutdown('emop', async () => controller.abort(new Error('interrupted')));
  const configured = emopConfig();
  const gap = options.gapMs === undefined ? configured.minRequestGapMs : whole('--gap-ms', options.gapMs, 0);
  const settings = {
    minRequestGapMs: gap,
    connectTimeoutMs:
      options.timeoutMs === undefined ? configured.connectTimeoutMs : whole('--timeout-ms', options.timeoutMs, 1),
    readTimeoutMs:
      options.timeoutMs === undefined ? configured.readTimeoutMs : whole('--timeout-ms', options.timeoutMs, 1),
    retry: {
      attempts: options.attempts === undefined ? configured.attempts : whole('--attempts', options.attempts, 1),
      initialDelayMs: configured.initialBackoffMs,
      maxDelayMs: configured.maxBackoffMs,
    },
    logger: log,
  };
  const call = { signal: controller.signal };
  if (options.host !== undefined) {
    const meter = {
      host: options.host,
      port: options.port === undefined ? undefined : whole('--port', options.port, 1),
      key: serial,
      daylightSavings: options.dst,
    };
    print(await run(new EmopClient(settings), meter, call));
    return;
  }
  const { database } = loadConfig(['database']);
  const db = await openDatabase(database, log);
  const pool = new pg.Pool({ connectionString: db.adminUrl, max: 3 });
  pool.on('error', (error) => log.error({ err: error }, 'database pool error'));
  try {
    const found = await meterBySerial(pool, serial);
    if (!found) throw new MeterNotFoundError(serial);
    const meter = targetOf(found);
    if (!meter) throw new MeterUnreachableError(serial);
    const withConnection: WithConnection = async (fn) => {
      const client = await pool.connect();
      try {
        return await fn(client);
      } finally {
        client.release();
      }
    };
    const lock = advisoryMeterLock(withConnection, { holdAfterMs: gap });
    try {
      print(await run(new EmopClient({ ...settings, withMeterLock: lock.withMeterLock }), meter, call));
    } finally {
      await lock.drain();
    }
  } finally {
    await pool.end();
    await db.release();
  }
}

export function register(program: Command): void {
  const emop = program
    .command('emop')
    .description('talk to one meter over EMOP (address from flows.meter_registry, or --host/--port); prints JSON')
    .option('--host <host>', 'meter IP address (skips the registry)')
    .option('--port <port>', 'meter TCP port with --host (default 8080)')
    .option('--dst', "with --host: the meter's clock follows Europe/London daylight saving")
    .option('--gap-ms <ms>', 'minimum gap between requests to the meter (default FLOWS_EMOP_MIN_GAP_MS, 2000)')
    .option('--timeout-ms <ms>', 'connect and read timeout (default FLOWS_EMOP_CONNECT/READ_TIMEOUT_MS, 10000)')
    .option('--attempts <n>', 'attempts per request (default FLOWS_EMOP_ATTEMPTS, 5)');

  for (const [name, op] of Object.entries(operations)) {
    const command = emop.command(name).description(op.description).argument('<serial>', 'meter serial');
    for (const arg of op.args ?? []) command.argument(arg);
    command.action(async (serial: string, ...rest: unknown[]) => {
      const args = rest.filter((a): a is string => typeof a === 'string');
      await runOperation(serial, emop.opts<EmopOptions>(), (client, meter, call) => op.run(client, meter, args, call));
    });
  }

  emop
    .command('decode')
    .description('print an EMOP frame (hex, spaces allowed) as JSON')
    .argument('<hex...>', 'the frame bytes')
    .option('--twin', 'decode profile log 2 records in the twin-element layout')
    .action((hex: string[], options: { twin?: boolean }) => {
      print(describeFrame(hex.join(''), options.twin ? 'twinElement' : 'singleElement'));
    });
}
