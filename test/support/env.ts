// The environment tests run with: the caller's, with FLOWS_ENV=test unless set, and without any
// .env file (tests never read a developer's local settings).
import type { Env } from '../../src/config.ts';

// eslint-disable-next-line no-restricted-properties -- tests hand their own environment to loadConfig
const callerEnv: Env = process.env;

export function testEnv(overrides: Env = {}): Env {
  return { ...callerEnv, FLOWS_ENV: callerEnv.FLOWS_ENV ?? 'test', ...overrides };
}
