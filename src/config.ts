// Configuration: the only module that reads process.env.
//
// Each command asks for the sections it uses (`loadConfig(['database', 'worker'])`), so `flows rest`
// starts on the PGRST_* variables alone and the worker fails fast without its own settings. Every
// problem found is reported at once in one ConfigError. FLOWS_ENV decides what may be defaulted:
// development and test invent local settings, production refuses to start without real ones.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/** The checkout (or installed package) root: where package.json, migrations/ and sql/ live. */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const flowsEnvSchema = z.enum(['development', 'test', 'production']);
export type FlowsEnv = z.infer<typeof flowsEnvSchema>;

const blankToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const optionalString = z.preprocess(blankToUndefined, z.string().optional());
const bool = (fallback: boolean) =>
  z.preprocess(
    blankToUndefined,
    z
      .enum(['true', 'false', 'on', 'off', '1', '0', 'yes', 'no'], {
        error: 'expected true or false',
      })
      .optional()
      .transform((v) => (v === undefined ? fallback : ['true', 'on', '1', 'yes'].includes(v))),
  );
const wholeNumber = (min: number) =>
  z.coerce
    .number({ error: 'expected a whole number' })
    .int({ error: 'expected a whole number' })
    .min(min, { error: `expected a whole number of at least ${min}` });
const int = (fallback: number, min = 0) => z.preprocess(blankToUndefined, wholeNumber(min).default(fallback));
const optionalInt = (min = 0) => z.preprocess(blankToUndefined, wholeNumber(min).optional());
const postgresUrl = z
  .string()
  .refine((v) => /^postgres(ql)?:\/\//.test(v), { error: 'expected a postgres:// or postgresql:// URL' });
const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** Passwords of the login roles (`flows db setup`). Invented outside production. */
const roleVariables = {
  FLOWS_AUTHENTICATOR_PASSWORD: 'authenticator',
  FLOWS_WORKER_PASSWORD: 'worker',
  FLOWS_REPORTING_PASSWORD: 'reporting',
} as const;

/**
 * Every variable the project reads, with its meaning. `.env.example` documents the same list and
 * a test keeps the two (and docker-compose.yml) in step.
 */
export const knownVariables = [
  'FLOWS_ENV',
  'LOG_LEVEL',
  'FLOWS_SHUTDOWN_TIMEOUT_MS',
  'SENTRY_DSN',
  'DATABASE_URL',
  'FLOWS_DATA_DIR',
  'FLOWS_CACHE_DIR',
  'FLOWS_EMBEDDED_PORT',
  'FLOWS_STATEMENT_TIMEOUTS',
  ...Object.keys(roleVariables),
  'WORKER_DATABASE_URL',
  'WORKER_CONCURRENCY',
  'WORKER_POLL_INTERVAL_MS',
  'WORKER_METRICS_PORT',
  'FLOWS_METER_STALE_AFTER_HOURS',
  'WORKER_RECOVERY_INTERVAL_MS',
  'WORKER_RECOVERY_GRACE_MS',
  'FLOWS_TOKEN_TTL',
  'FLOWS_EMOP_MIN_GAP_MS',
  'FLOWS_EMOP_CONNECT_TIMEOUT_MS',
  'FLOWS_EMOP_READ_TIMEOUT_MS',
  'FLOWS_EMOP_ATTEMPTS',
  'FLOWS_EMOP_BACKOFF_MS',
  'FLOWS_EMOP_MAX_BACKOFF_MS',
  'FLOWS_METER_SYNC_CONCURRENCY',
  'FLOWS_CLOCK_CORRECTION_THRESHOLD_SECONDS',
  'FLOWS_BACKFILL_DAYS',
  'FLOWS_DEV_TOKEN_KEY',
  'SMTP_URL',
  'NOTIFY_EMAIL_FROM',
  'TWILIO_ACCOUNT_SID',
  'TWILIO_AUTH_TOKEN',
  'TWILIO_FROM',
  'TWILIO_API_BASE_URL',
  'NOTIFY_MAX_ATTEMPTS',
  'NOTIFY_BACKOFF_MS',
  'NOTIFY_MAX_BACKOFF_MS',
  'NOTIFY_SEND_TIMEOUT_MS',
  'NOTIFY_EMAIL_MIN_INTERVAL_MS',
  'NOTIFY_SMS_MIN_INTERVAL_MS',
  'PGRST_BIN',
  'FLOWS_REST_MAX_BODY_BYTES',
  'FLOWS_REALTIME_HOST',
  'FLOWS_REALTIME_PORT',
  'FLOWS_REALTIME_HEARTBEAT_MS',
  'FLOWS_REALTIME_MAX_BUFFERED_BYTES',
  'FLOWS_REALTIME_MAX_PENDING',
  // PostgREST's own variables (v13), read by `flows rest` exactly as postgrest reads them.
  'PGRST_DB_URI',
  'PGRST_DB_SCHEMAS',
  'PGRST_DB_ANON_ROLE',
  'PGRST_JWT_SECRET',
  'PGRST_JWT_SECRET_IS_BASE64',
  'PGRST_JWT_ROLE_CLAIM_KEY',
  'PGRST_JWT_AUD',
  'PGRST_JWT_CACHE_MAX_LIFETIME',
  'PGRST_DB_PRE_REQUEST',
  'PGRST_DB_MAX_ROWS',
  'PGRST_DB_EXTRA_SEARCH_PATH',
  'PGRST_SERVER_HOST',
  'PGRST_SERVER_PORT',
  'PGRST_SERVER_UNIX_SOCKET',
  'PGRST_OPENAPI_MODE',
  'PGRST_OPENAPI_SERVER_PROXY_URI',
  'PGRST_OPENAPI_SECURITY_ACTIVE',
  'PGRST_DB_TX_END',
  'PGRST_DB_AGGREGATES_ENABLED',
  'PGRST_DB_PLAN_ENABLED',
  'PGRST_DB_ROOT_SPEC',
  'PGRST_DB_CHANNEL',
  'PGRST_DB_CHANNEL_ENABLED',
  'PGRST_DB_POOL',
  'PGRST_DB_POOL_ACQUISITION_TIMEOUT',
  'PGRST_DB_POOL_MAX_LIFETIME',
  'PGRST_DB_POOL_MAX_IDLETIME',
  'PGRST_DB_PREPARED_STATEMENTS',
  'PGRST_DB_HOISTED_TX_SETTINGS',
  'PGRST_DB_CONFIG',
  'PGRST_DB_PRE_CONFIG',
  'PGRST_SERVER_CORS_ALLOWED_ORIGINS',
  'PGRST_SERVER_TRACE_HEADER',
  'PGRST_SERVER_TIMING_ENABLED',
  'PGRST_LOG_LEVEL',
  'PGRST_LOG_QUERY',
  'PGRST_ADMIN_SERVER_PORT',
] as const;

/** True for a variable this project reads (PGRST_APP_SETTINGS_* are free-form, as in PostgREST). */
export function isKnownVariable(name: string): boolean {
  return (knownVariables as readonly string[]).includes(name) || name.startsWith('PGRST_APP_SETTINGS_');
}

// ---------------------------------------------------------------------------------------------
// Sections

const runtimeSchema = z.object({
  FLOWS_ENV: z.preprocess(blankToUndefined, flowsEnvSchema.default('development')),
  LOG_LEVEL: z.preprocess(blankToUndefined, logLevel.optional()),
  FLOWS_SHUTDOWN_TIMEOUT_MS: int(10_000, 1),
  // https://<public key>@<host>/<project id>, as Sentry shows it (src/metrics/error-tracking.ts).
  SENTRY_DSN: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^https?:\/\/[^@/\s]+@[^/\s]+(\/[^\s]*)?\/\d+$/, {
        error: 'expected a Sentry DSN: https://<key>@<host>/<project id>',
      })
      .optional(),
  ),
});

const metricsSchema = z.object({
  WORKER_METRICS_PORT: optionalInt(0),
  FLOWS_METER_STALE_AFTER_HOURS: int(6, 1),
});

const databaseSchema = z.object({
  DATABASE_URL: z.preprocess(blankToUndefined, postgresUrl.optional()),
  FLOWS_DATA_DIR: optionalString,
  FLOWS_CACHE_DIR: optionalString,
  FLOWS_EMBEDDED_PORT: int(0),
});

const rolesSchema = z.object({
  FLOWS_AUTHENTICATOR_PASSWORD: optionalString,
  FLOWS_WORKER_PASSWORD: optionalString,
  FLOWS_REPORTING_PASSWORD: optionalString,
  FLOWS_STATEMENT_TIMEOUTS: optionalString,
});

const workerSchema = z.object({
  WORKER_DATABASE_URL: z.preprocess(blankToUndefined, postgresUrl.optional()),
  WORKER_CONCURRENCY: int(16, 1),
  WORKER_POLL_INTERVAL_MS: int(2000, 1),
  WORKER_RECOVERY_INTERVAL_MS: int(30_000, 1),
  WORKER_RECOVERY_GRACE_MS: int(120_000, 0),
});

const emopSchema = z.object({
  FLOWS_EMOP_MIN_GAP_MS: int(2000, 0),
  FLOWS_EMOP_CONNECT_TIMEOUT_MS: int(10_000, 1),
  FLOWS_EMOP_READ_TIMEOUT_MS: int(10_000, 1),
  FLOWS_EMOP_ATTEMPTS: int(5, 1),
  FLOWS_EMOP_BACKOFF_MS: int(2000, 0),
  FLOWS_EMOP_MAX_BACKOFF_MS: int(16_000, 0),
  FLOWS_METER_SYNC_CONCURRENCY: int(15, 1),
  FLOWS_CLOCK_CORRECTION_THRESHOLD_SECONDS: int(20, 1),
  FLOWS_BACKFILL_DAYS: int(7, 1),
  FLOWS_DEV_TOKEN_KEY: optionalString,
});

const notifySchema = z.object({
  SMTP_URL: z.preprocess(
    blankToUndefined,
    z
      .string()
      .refine((v) => /^smtps?:\/\//.test(v), { error: 'expected an smtp:// or smtps:// URL' })
      .optional(),
  ),
  NOTIFY_EMAIL_FROM: z.preprocess(blankToUndefined, z.string().default('Flows <no-reply@flows.invalid>')),
  TWILIO_ACCOUNT_SID: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^AC[0-9a-fA-F]{32}$/, { error: 'expected AC followed by 32 hex digits' })
      .optional(),
  ),
  TWILIO_AUTH_TOKEN: optionalString,
  TWILIO_FROM: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^(\+[1-9][0-9]{6,14}|MG[0-9a-fA-F]{32}|[A-Za-z0-9 ]{1,11})$/, {
        error: 'expected an E.164 number, a messaging service SID or an alphanumeric sender id',
      })
      .optional(),
  ),
  TWILIO_API_BASE_URL: z.preprocess(
    blankToUndefined,
    z
      .string()
      .refine((v) => /^https?:\/\//.test(v), { error: 'expected an http(s):// URL' })
      .default('https://api.twilio.com'),
  ),
  NOTIFY_MAX_ATTEMPTS: int(8, 1),
  NOTIFY_BACKOFF_MS: int(30_000, 0),
  NOTIFY_MAX_BACKOFF_MS: int(3_600_000, 0),
  NOTIFY_SEND_TIMEOUT_MS: int(30_000, 1),
  NOTIFY_EMAIL_MIN_INTERVAL_MS: int(100, 0),
  NOTIFY_SMS_MIN_INTERVAL_MS: int(1000, 0),
});

const tokenSchema = z.object({
  PGRST_JWT_SECRET: optionalString,
  FLOWS_TOKEN_TTL: z.preprocess(
    blankToUndefined,
    z
      .string()
      .regex(/^\d+\s*(s|m|h|d)$/, { error: 'expected a duration such as 30m, 12h or 7d' })
      .default('12h'),
  ),
});

const restSchema = z.object({
  PGRST_BIN: optionalString,
  FLOWS_REST_MAX_BODY_BYTES: int(10 * 1024 * 1024, 1),
  PGRST_DB_URI: z.preprocess(blankToUndefined, z.string().default('postgresql://')),
  PGRST_DB_SCHEMAS: z.preprocess(blankToUndefined, z.string().default('public')),
  PGRST_DB_ANON_ROLE: optionalString,
  PGRST_JWT_SECRET: optionalString,
  PGRST_JWT_SECRET_IS_BASE64: bool(false),
  PGRST_JWT_ROLE_CLAIM_KEY: z.preprocess(blankToUndefined, z.string().default('.role')),
  PGRST_JWT_AUD: optionalString,
  PGRST_JWT_CACHE_MAX_LIFETIME: int(0),
  PGRST_DB_PRE_REQUEST: optionalString,
  PGRST_DB_MAX_ROWS: optionalInt(0),
  // PostgREST accepts an empty value here (no extra schemas); only an absent one means 'public'.
  PGRST_DB_EXTRA_SEARCH_PATH: z.string().default('public'),
  PGRST_SERVER_HOST: z.preprocess(blankToUndefined, z.string().default('!4')),
  PGRST_SERVER_PORT: int(3000, 0),
  PGRST_SERVER_UNIX_SOCKET: optionalString,
  PGRST_OPENAPI_MODE: z.preprocess(
    blankToUndefined,
    z.enum(['follow-privileges', 'ignore-privileges', 'disabled']).default('follow-privileges'),
  ),
  PGRST_OPENAPI_SERVER_PROXY_URI: optionalString,
  PGRST_OPENAPI_SECURITY_ACTIVE: bool(false),
  PGRST_DB_TX_END: z.preprocess(
    blankToUndefined,
    z.enum(['commit', 'commit-allow-override', 'rollback', 'rollback-allow-override']).default('commit'),
  ),
  PGRST_DB_AGGREGATES_ENABLED: bool(false),
  PGRST_DB_PLAN_ENABLED: bool(false),
  PGRST_DB_ROOT_SPEC: optionalString,
  PGRST_DB_CHANNEL: z.preprocess(blankToUndefined, z.string().default('pgrst')),
  PGRST_DB_CHANNEL_ENABLED: bool(true),
  PGRST_DB_POOL: int(10, 1),
  PGRST_DB_POOL_ACQUISITION_TIMEOUT: int(10, 1),
  PGRST_DB_POOL_MAX_LIFETIME: int(1800, 1),
  PGRST_DB_POOL_MAX_IDLETIME: int(30, 1),
  PGRST_DB_PREPARED_STATEMENTS: bool(true),
  PGRST_DB_HOISTED_TX_SETTINGS: z.preprocess(
    blankToUndefined,
    z.string().default('statement_timeout,plan_filter.statement_cost_limit,default_transaction_isolation'),
  ),
  PGRST_DB_CONFIG: bool(true),
  PGRST_DB_PRE_CONFIG: optionalString,
  PGRST_SERVER_CORS_ALLOWED_ORIGINS: optionalString,
  PGRST_SERVER_TRACE_HEADER: optionalString,
  PGRST_SERVER_TIMING_ENABLED: bool(false),
  PGRST_LOG_LEVEL: z.preprocess(blankToUndefined, z.enum(['crit', 'error', 'warn', 'info', 'debug']).default('error')),
  PGRST_LOG_QUERY: z.preprocess(blankToUndefined, z.enum(['disabled', 'main-query']).default('disabled')),
  PGRST_ADMIN_SERVER_PORT: optionalInt(0),
});

const realtimeSchema = z.object({
  FLOWS_REALTIME_HOST: z.preprocess(blankToUndefined, z.string().default('127.0.0.1')),
  FLOWS_REALTIME_PORT: int(3001, 0),
  FLOWS_REALTIME_HEARTBEAT_MS: int(25_000, 1),
  FLOWS_REALTIME_MAX_BUFFERED_BYTES: int(1024 * 1024, 1),
  FLOWS_REALTIME_MAX_PENDING: int(1000, 1),
});

const sections = {
  runtime: runtimeSchema,
  database: databaseSchema,
  roles: rolesSchema,
  worker: workerSchema,
  emop: emopSchema,
  notify: notifySchema,
  token: tokenSchema,
  rest: restSchema,
  metrics: metricsSchema,
  realtime: realtimeSchema,
} as const;
export type SectionName = keyof typeof sections;
type EverySection = z.infer<typeof runtimeSchema> &
  z.infer<typeof databaseSchema> &
  z.infer<typeof rolesSchema> &
  z.infer<typeof workerSchema> &
  z.infer<typeof emopSchema> &
  z.infer<typeof notifySchema> &
  z.infer<typeof tokenSchema> &
  z.infer<typeof restSchema> &
  z.infer<typeof metricsSchema> &
  z.infer<typeof realtimeSchema>;

// ---------------------------------------------------------------------------------------------
// Resolved shapes

export interface RuntimeConfig {
  env: FlowsEnv;
  /** LOG_LEVEL; services default to info (warn under test), one-shot commands to warn. */
  logLevel: z.infer<typeof logLevel> | undefined;
  /** How long SIGINT/SIGTERM may take to stop everything before the process exits anyway. */
  shutdownTimeoutMs: number;
  /** SENTRY_DSN: errors logged by any service are also sent there (unset = nowhere). */
  sentryDsn?: string;
}
/** The worker's operations port and the business metrics' settings (docs/operations.md). */
export interface MetricsConfig {
  /** Port of the worker's /metrics, /live and /ready (0 = any free port); unset = not served. */
  workerPort: number | undefined;
  /** A meter whose last successful sync is older than this is stale. */
  meterStaleAfterHours: number;
}
export interface DatabaseConfig {
  /** Admin connection (a superuser or the database owner); unset = the embedded server. */
  url: string | undefined;
  dataDir: string;
  cacheDir: string;
  embeddedPort: number;
}
export type LoginRole = (typeof roleVariables)[keyof typeof roleVariables];
export interface RolesConfig {
  passwords: Record<LoginRole, string>;
  /** `statement_timeout` per role, overriding the defaults of src/db/roles.ts. */
  statementTimeouts: Record<string, string>;
}
export interface WorkerConfig {
  url: string | undefined;
  concurrency: number;
  pollIntervalMs: number;
  /** Heartbeat and dead-worker sweep interval (src/worker/recovery.ts). */
  recoveryIntervalMs: number;
  /** How long a worker process may be silent, with its lock free, before its jobs are unlocked. */
  recoveryGraceMs: number;
}
/** Talking to meters (the client's timings) and the meter jobs' settings. */
export interface EmopConfig {
  minRequestGapMs: number;
  connectTimeoutMs: number;
  readTimeoutMs: number;
  attempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  meterSyncConcurrency: number;
  clockCorrectionThresholdSeconds: number;
  backfillDays: number;
  /** Whether top-ups may use the development token vendor: everywhere but production. */
  devTokens: boolean;
  /** Its key (FLOWS_DEV_TOKEN_KEY); unset = the vendor's built-in development key. */
  devTokenKey: string | undefined;
}

/** Notifications (docs/notifications.md): the SMTP and Twilio settings and the senders' timings. */
export interface NotifyConfig {
  /** SMTP_URL; unset outside production = email is marked suppressed ("channel not configured"). */
  smtpUrl: string | undefined;
  emailFrom: string;
  /** Twilio credentials and sender; all three or none (outside production: SMS suppressed). */
  twilio: { accountSid: string; authToken: string; from: string } | undefined;
  twilioApiBaseUrl: string;
  maxAttempts: number;
  /** Backoff doubles from backoffMs per attempt, capped at maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
  sendTimeoutMs: number;
  /** Per-provider rate limit: at least this long between two sends through the provider (all workers). */
  emailMinIntervalMs: number;
  smsMinIntervalMs: number;
}

export interface TokenConfig {
  jwtSecret: string;
  ttl: string;
}
export interface RestConfig {
  bin: string | undefined;
  /** The built-in gateway answers 413 to a request body larger than this (PostgREST has no such limit). */
  maxBodyBytes: number;
  dbUri: string;
  dbSchemas: string[];
  dbAnonRole: string | undefined;
  jwtSecret: string | undefined;
  jwtSecretIsBase64: boolean;
  jwtRoleClaimKey: string;
  jwtAud: string | undefined;
  jwtCacheMaxLifetime: number;
  dbPreRequest: string | undefined;
  dbMaxRows: number | undefined;
  dbExtraSearchPath: string[];
  serverHost: string;
  serverPort: number;
  serverUnixSocket: string | undefined;
  openapiMode: 'follow-privileges' | 'ignore-privileges' | 'disabled';
  openapiServerProxyUri: string | undefined;
  openapiSecurityActive: boolean;
  dbTxEnd: 'commit' | 'commit-allow-override' | 'rollback' | 'rollback-allow-override';
  dbAggregatesEnabled: boolean;
  dbPlanEnabled: boolean;
  dbRootSpec: string | undefined;
  dbChannel: string;
  dbChannelEnabled: boolean;
  dbPool: number;
  dbPoolAcquisitionTimeoutSeconds: number;
  dbPoolMaxLifetimeSeconds: number;
  dbPoolMaxIdletimeSeconds: number;
  dbPreparedStatements: boolean;
  dbHoistedTxSettings: string[];
  dbConfig: boolean;
  dbPreConfig: string | undefined;
  /** `app.settings.<name>` values, from PGRST_APP_SETTINGS_<NAME> (name lower-cased). */
  appSettings: Record<string, string>;
  serverCorsAllowedOrigins: string[] | undefined;
  serverTraceHeader: string | undefined;
  serverTimingEnabled: boolean;
  logLevel: 'crit' | 'error' | 'warn' | 'info' | 'debug';
  logQuery: 'disabled' | 'main-query';
  adminServerPort: number | undefined;
}

/** `flows realtime` (docs/realtime.md); its database, JWT and schema settings are the REST layer's PGRST_* ones. */
export interface RealtimeConfig {
  host: string;
  /** 0 = any free port. */
  port: number;
  /** Keep-alive interval: SSE comments and WebSocket pings. */
  heartbeatMs: number;
  /** A client whose unsent output exceeds this many bytes is dropped (back-pressure). */
  maxBufferedBytes: number;
  /** A client with more changed rows than this waiting to be re-read is dropped. */
  maxPending: number;
}

export interface Config {
  runtime: RuntimeConfig;
  database: DatabaseConfig;
  roles: RolesConfig;
  worker: WorkerConfig;
  emop: EmopConfig;
  notify: NotifyConfig;
  token: TokenConfig;
  rest: RestConfig;
  realtime: RealtimeConfig;
  metrics: MetricsConfig;
}

const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

/** The folder for local state (embedded database, development JWT secret). */
function dataDirOf(env: Env): string {
  return path.resolve(projectRoot, blankToUndefined(env.FLOWS_DATA_DIR) === undefined ? '.flows' : env.FLOWS_DATA_DIR!);
}

/**
 * As root, PostgreSQL runs as the `postgres` OS user, so its binaries and data must sit in a
 * folder every user can traverse; a checkout in a private home folder is not one.
 */
function defaultCacheDir(): string {
  return userInfo().uid === 0 ? '/var/cache/flows' : path.join(homedir(), '.cache', 'flows');
}

/** Development and test tokens are signed with a secret kept in the data folder. */
function localJwtSecret(dataDir: string): string {
  const file = path.join(dataDir, 'jwt-secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const secret = randomBytes(32).toString('base64url');
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  return secret;
}

function parseTimeouts(raw: string | undefined): { timeouts: Record<string, string>; problems: string[] } {
  const timeouts: Record<string, string> = {};
  const problems: string[] = [];
  for (const item of list(raw ?? '')) {
    const m = /^([a-z_]+)=(\d+\s*(ms|s|min|h)?)$/.exec(item);
    if (m) timeouts[m[1]!] = m[2]!;
    else problems.push(`FLOWS_STATEMENT_TIMEOUTS: '${item}' is not role=duration (e.g. customer=5s)`);
  }
  return { timeouts, problems };
}

const present = (value: string | undefined): value is string => value !== undefined && value.trim() !== '';

/** What FLOWS_ENV and the values together require, checked on the raw variables. */
function ruleProblems(names: SectionName[], env: Env): string[] {
  const production = env.FLOWS_ENV?.trim() === 'production';
  const problems = new Set<string>();
  if (names.includes('database') && production && !present(env.DATABASE_URL)) {
    problems.add('DATABASE_URL: required in production (the embedded database is for development)');
  }
  if (names.includes('roles')) {
    for (const variable of Object.keys(roleVariables)) {
      const value = env[variable];
      if (production && (!present(value) || value.length < 16)) {
        problems.add(`${variable}: required in production, at least 16 characters`);
      }
    }
    parseTimeouts(env.FLOWS_STATEMENT_TIMEOUTS).problems.forEach((p) => problems.add(p));
  }
  if (names.includes('emop') && production && present(env.FLOWS_DEV_TOKEN_KEY)) {
    problems.add('FLOWS_DEV_TOKEN_KEY: development tokens are never issued in production; unset it');
  }
  if (names.includes('notify')) {
    if (production && !present(env.SMTP_URL)) {
      problems.add('SMTP_URL: required in production (email notifications)');
    }
    const twilio = ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM'];
    const set = twilio.filter((name) => present(env[name]));
    if (production || set.length > 0) {
      for (const name of twilio.filter((n) => !present(env[n]))) {
        problems.add(
          production
            ? `${name}: required in production (SMS notifications)`
            : `${name}: required with ${set.join(', ')} (SMS needs all three)`,
        );
      }
    }
  }
  if (names.includes('worker') && production && !present(env.WORKER_DATABASE_URL)) {
    problems.add('WORKER_DATABASE_URL: required in production');
  }
  const secret = present(env.PGRST_JWT_SECRET) ? env.PGRST_JWT_SECRET : undefined;
  if (names.includes('token') && production && secret === undefined) {
    problems.add('PGRST_JWT_SECRET: required in production, at least 32 characters');
  }
  // PostgREST refuses a plain HMAC secret shorter than 32 characters (JWK/JWKS and @file excepted).
  const plainSecret =
    secret !== undefined &&
    !secret.trimStart().startsWith('{') &&
    !secret.startsWith('@') &&
    env.PGRST_JWT_SECRET_IS_BASE64 !== 'true';
  if ((names.includes('token') || names.includes('rest')) && plainSecret && secret.length < 32) {
    problems.add('PGRST_JWT_SECRET: must be at least 32 characters');
  }
  return [...problems];
}

/** Loads the named sections from `env` (default: process.env, after `.env` if present). */
export function loadConfig<S extends SectionName>(
  wanted: readonly S[],
  env: Env = processEnv(),
): Pick<Config, S | 'runtime'> {
  const names = [...new Set<SectionName>(['runtime', ...wanted])];
  const shape = Object.assign({}, ...names.map((n) => sections[n].shape)) as z.ZodRawShape;
  const parsed = z.object(shape).safeParse(env);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => {
        const name = issue.path.join('.');
        return `${name}: ${issue.message} (got '${String(env[name] ?? '')}')`;
      });
  problems.push(...ruleProblems(names, env));
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  // Only the selected sections are read below, so treating the result as the full shape is safe.
  const v = parsed.data as EverySection;
  const flowsEnv: FlowsEnv = v.FLOWS_ENV;
  const out: Partial<Config> = {
    runtime: {
      env: flowsEnv,
      logLevel: v.LOG_LEVEL,
      shutdownTimeoutMs: v.FLOWS_SHUTDOWN_TIMEOUT_MS,
      sentryDsn: v.SENTRY_DSN,
    },
  };
  const dataDir = dataDirOf(env);

  if (names.includes('database')) {
    out.database = {
      url: v.DATABASE_URL,
      dataDir,
      cacheDir: path.resolve(v.FLOWS_CACHE_DIR ?? defaultCacheDir()),
      embeddedPort: v.FLOWS_EMBEDDED_PORT,
    };
  }
  if (names.includes('roles')) {
    const passwords = {} as Record<LoginRole, string>;
    for (const [variable, role] of Object.entries(roleVariables)) {
      passwords[role] = v[variable as keyof typeof roleVariables] ?? `flows-dev-${role}`;
    }
    out.roles = { passwords, statementTimeouts: parseTimeouts(v.FLOWS_STATEMENT_TIMEOUTS).timeouts };
  }
  if (names.includes('worker')) {
    out.worker = {
      url: v.WORKER_DATABASE_URL,
      concurrency: v.WORKER_CONCURRENCY,
      pollIntervalMs: v.WORKER_POLL_INTERVAL_MS,
      recoveryIntervalMs: v.WORKER_RECOVERY_INTERVAL_MS,
      recoveryGraceMs: v.WORKER_RECOVERY_GRACE_MS,
    };
  }
  if (names.includes('emop')) {
    out.emop = {
      minRequestGapMs: v.FLOWS_EMOP_MIN_GAP_MS,
      connectTimeoutMs: v.FLOWS_EMOP_CONNECT_TIMEOUT_MS,
      readTimeoutMs: v.FLOWS_EMOP_READ_TIMEOUT_MS,
      attempts: v.FLOWS_EMOP_ATTEMPTS,
      initialBackoffMs: v.FLOWS_EMOP_BACKOFF_MS,
      maxBackoffMs: v.FLOWS_EMOP_MAX_BACKOFF_MS,
      meterSyncConcurrency: v.FLOWS_METER_SYNC_CONCURRENCY,
      clockCorrectionThresholdSeconds: v.FLOWS_CLOCK_CORRECTION_THRESHOLD_SECONDS,
      backfillDays: v.FLOWS_BACKFILL_DAYS,
      devTokens: flowsEnv !== 'production',
      devTokenKey: v.FLOWS_DEV_TOKEN_KEY,
    };
  }
  if (names.includes('notify')) {
    out.notify = {
      smtpUrl: v.SMTP_URL,
      emailFrom: v.NOTIFY_EMAIL_FROM,
      twilio:
        v.TWILIO_ACCOUNT_SID !== undefined && v.TWILIO_AUTH_TOKEN !== undefined && v.TWILIO_FROM !== undefined
          ? { accountSid: v.TWILIO_ACCOUNT_SID, authToken: v.TWILIO_AUTH_TOKEN, from: v.TWILIO_FROM }
          : undefined,
      twilioApiBaseUrl: v.TWILIO_API_BASE_URL,
      maxAttempts: v.NOTIFY_MAX_ATTEMPTS,
      backoffMs: v.NOTIFY_BACKOFF_MS,
      maxBackoffMs: v.NOTIFY_MAX_BACKOFF_MS,
      sendTimeoutMs: v.NOTIFY_SEND_TIMEOUT_MS,
      emailMinIntervalMs: v.NOTIFY_EMAIL_MIN_INTERVAL_MS,
      smsMinIntervalMs: v.NOTIFY_SMS_MIN_INTERVAL_MS,
    };
  }
  if (names.includes('token')) {
    out.token = { jwtSecret: v.PGRST_JWT_SECRET ?? localJwtSecret(dataDir), ttl: v.FLOWS_TOKEN_TTL };
  }
  if (names.includes('metrics')) {
    out.metrics = { workerPort: v.WORKER_METRICS_PORT, meterStaleAfterHours: v.FLOWS_METER_STALE_AFTER_HOURS };
  }
  if (names.includes('rest')) {
    const appSettings: Record<string, string> = {};
    for (const [k, value] of Object.entries(env)) {
      if (k.startsWith('PGRST_APP_SETTINGS_') && value !== undefined) {
        appSettings[k.slice('PGRST_APP_SETTINGS_'.length).toLowerCase()] = value;
      }
    }
    out.rest = {
      bin: v.PGRST_BIN,
      maxBodyBytes: v.FLOWS_REST_MAX_BODY_BYTES,
      dbUri: v.PGRST_DB_URI,
      dbSchemas: list(v.PGRST_DB_SCHEMAS),
      dbAnonRole: v.PGRST_DB_ANON_ROLE,
      jwtSecret: v.PGRST_JWT_SECRET,
      jwtSecretIsBase64: v.PGRST_JWT_SECRET_IS_BASE64,
      jwtRoleClaimKey: v.PGRST_JWT_ROLE_CLAIM_KEY,
      jwtAud: v.PGRST_JWT_AUD,
      jwtCacheMaxLifetime: v.PGRST_JWT_CACHE_MAX_LIFETIME,
      dbPreRequest: v.PGRST_DB_PRE_REQUEST,
      dbMaxRows: v.PGRST_DB_MAX_ROWS,
      dbExtraSearchPath: list(v.PGRST_DB_EXTRA_SEARCH_PATH),
      serverHost: v.PGRST_SERVER_HOST,
      serverPort: v.PGRST_SERVER_PORT,
      serverUnixSocket: v.PGRST_SERVER_UNIX_SOCKET,
      openapiMode: v.PGRST_OPENAPI_MODE,
      openapiServerProxyUri: v.PGRST_OPENAPI_SERVER_PROXY_URI,
      openapiSecurityActive: v.PGRST_OPENAPI_SECURITY_ACTIVE,
      dbTxEnd: v.PGRST_DB_TX_END,
      dbAggregatesEnabled: v.PGRST_DB_AGGREGATES_ENABLED,
      dbPlanEnabled: v.PGRST_DB_PLAN_ENABLED,
      dbRootSpec: v.PGRST_DB_ROOT_SPEC,
      dbChannel: v.PGRST_DB_CHANNEL,
      dbChannelEnabled: v.PGRST_DB_CHANNEL_ENABLED,
      dbPool: v.PGRST_DB_POOL,
      dbPoolAcquisitionTimeoutSeconds: v.PGRST_DB_POOL_ACQUISITION_TIMEOUT,
      dbPoolMaxLifetimeSeconds: v.PGRST_DB_POOL_MAX_LIFETIME,
      dbPoolMaxIdletimeSeconds: v.PGRST_DB_POOL_MAX_IDLETIME,
      dbPreparedStatements: v.PGRST_DB_PREPARED_STATEMENTS,
      dbHoistedTxSettings: list(v.PGRST_DB_HOISTED_TX_SETTINGS),
      dbConfig: v.PGRST_DB_CONFIG,
      dbPreConfig: v.PGRST_DB_PRE_CONFIG,
      appSettings,
      serverCorsAllowedOrigins: v.PGRST_SERVER_CORS_ALLOWED_ORIGINS
        ? list(v.PGRST_SERVER_CORS_ALLOWED_ORIGINS)
        : undefined,
      serverTraceHeader: v.PGRST_SERVER_TRACE_HEADER,
      serverTimingEnabled: v.PGRST_SERVER_TIMING_ENABLED,
      logLevel: v.PGRST_LOG_LEVEL,
      logQuery: v.PGRST_LOG_QUERY,
      adminServerPort: v.PGRST_ADMIN_SERVER_PORT,
    };
  }
  if (names.includes('realtime')) {
    out.realtime = {
      host: v.FLOWS_REALTIME_HOST,
      port: v.FLOWS_REALTIME_PORT,
      heartbeatMs: v.FLOWS_REALTIME_HEARTBEAT_MS,
      maxBufferedBytes: v.FLOWS_REALTIME_MAX_BUFFERED_BYTES,
      maxPending: v.FLOWS_REALTIME_MAX_PENDING,
    };
  }
  return out as Pick<Config, S | 'runtime'>;
}

let envFileLoaded = false;
/** process.env, with `.env` from the project root loaded first when it exists. */
export function processEnv(): Env {
  if (!envFileLoaded) {
    envFileLoaded = true;
    const file = path.join(projectRoot, '.env');
    if (existsSync(file)) process.loadEnvFile(file);
  }
  return process.env;
}
