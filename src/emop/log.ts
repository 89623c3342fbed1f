// What the EMOP code logs through: a pino logger (or child) fits, and so does the jobs' adapter over
// graphile-worker's scoped logger (src/emop/sync/job-logger.ts).
export interface EmopLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}
