// The realtime service's settings: defaults, bad values refused at start-up, and its
// docker-compose service configured like PostgREST (same login, schemas, pre-request and secret).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError, loadConfig, projectRoot } from '../../src/config.ts';
import { flowsRestSettings } from '../../src/stack/rest-settings.ts';

describe('realtime configuration', () => {
  it('has defaults for everything', () => {
    expect(loadConfig(['realtime'], { FLOWS_ENV: 'test' }).realtime).toEqual({
      host: '127.0.0.1',
      port: 3001,
      heartbeatMs: 25_000,
      maxBufferedBytes: 1024 * 1024,
      maxPending: 1000,
    });
  });

  it('reports every bad value at once', () => {
    const load = () =>
      loadConfig(['realtime'], {
        FLOWS_REALTIME_PORT: 'http',
        FLOWS_REALTIME_HEARTBEAT_MS: '0',
        FLOWS_REALTIME_MAX_BUFFERED_BYTES: '-1',
        FLOWS_REALTIME_MAX_PENDING: '1.5',
      });
    expect(load).toThrow(ConfigError);
    try {
      load();
    } catch (error) {
      expect((error as ConfigError).problems.map((p) => p.split(':')[0])).toEqual([
        'FLOWS_REALTIME_PORT',
        'FLOWS_REALTIME_HEARTBEAT_MS',
        'FLOWS_REALTIME_MAX_BUFFERED_BYTES',
        'FLOWS_REALTIME_MAX_PENDING',
      ]);
    }
  });

  it('runs in docker-compose with the REST layer’s login, schemas, pre-request and JWT secret', () => {
    const compose = parse(readFileSync(path.join(projectRoot, 'docker-compose.yml'), 'utf8')) as {
      services: Record<string, { command?: string[]; environment?: Record<string, string | number> }>;
    };
    const realtime = compose.services.realtime!;
    const postgrest = compose.services.postgrest!.environment!;
    expect(realtime.command).toEqual(['flows', 'realtime']);
    for (const variable of ['PGRST_DB_URI', 'PGRST_JWT_SECRET', ...Object.keys(flowsRestSettings)]) {
      if (variable === 'PGRST_OPENAPI_MODE') continue;
      expect(String(realtime.environment?.[variable]), variable).toBe(String(postgrest[variable]));
    }
    expect(realtime.environment?.FLOWS_REALTIME_HOST).toBe('0.0.0.0');
  });
});
