import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { isKnownVariable, knownVariables, loadConfig, projectRoot, type SectionName } from '../src/config.ts';
import { flowsRestSettings } from '../src/stack/rest-settings.ts';

interface Compose {
  services: Record<string, { image?: string; environment?: Record<string, string | number> }>;
}
const compose = parse(readFileSync(path.join(projectRoot, 'docker-compose.yml'), 'utf8')) as Compose;
// Variables the images themselves read, not Flows.
const imageVariables = new Set(['POSTGRES_DB', 'POSTGRES_USER', 'POSTGRES_PASSWORD']);

describe('docker-compose.yml', () => {
  it('sets only variables that the configuration knows', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const variable of Object.keys(service.environment ?? {})) {
        if (imageVariables.has(variable)) continue;
        expect(isKnownVariable(variable), `${name}: ${variable}`).toBe(true);
      }
    }
  });

  it('configures PostgREST as flows dev configures the REST layer', () => {
    const postgrest = compose.services.postgrest!;
    expect(postgrest.image).toBe('postgrest/postgrest:v13.0.8');
    for (const [variable, value] of Object.entries(flowsRestSettings)) {
      expect(String(postgrest.environment?.[variable]), variable).toBe(value);
    }
    expect(postgrest.environment?.PGRST_DB_URI).toMatch(/^postgres:\/\/authenticator:/);
    expect(postgrest.environment?.PGRST_JWT_SECRET).toBeDefined();
  });

  it('pins PostgreSQL 15 and runs setup then migrate before the API and the worker start', () => {
    expect(compose.services.postgres!.image).toBe('postgres:15');
    expect(JSON.stringify(compose.services.migrate)).toContain('flows db setup && flows db migrate');
    expect(compose.services.worker!.environment?.WORKER_DATABASE_URL).toMatch(/^postgres:\/\/worker:/);
  });
});

describe("docker-compose.yml's services start in production", () => {
  // What each service's command loads (src/cli/main.ts: db setup and migrate, worker; src/cli/realtime.ts).
  const sectionsOf: Record<string, SectionName[]> = {
    migrate: ['database', 'roles'],
    realtime: ['rest', 'realtime'],
    worker: ['worker', 'notify', 'metrics'],
  };
  // The values an operator exports: ${VAR:?…} and ${VAR} filled in, ${VAR:-} left blank.
  const exported: Record<string, string> = {
    POSTGRES_PASSWORD: 'p'.repeat(24),
    FLOWS_AUTHENTICATOR_PASSWORD: 'a'.repeat(24),
    FLOWS_WORKER_PASSWORD: 'w'.repeat(24),
    FLOWS_REPORTING_PASSWORD: 'r'.repeat(24),
    PGRST_JWT_SECRET: 's'.repeat(40),
    SMTP_URL: 'smtps://user:pass@smtp.example.org:465',
    TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`,
    TWILIO_AUTH_TOKEN: 't'.repeat(32),
    TWILIO_FROM: '+447700900000',
  };
  const substitute = (value: string | number) =>
    String(value).replace(/\$\{(\w+)(:[?-][^}]*)?\}/g, (_, name: string, rule?: string) =>
      rule?.startsWith(':-') ? (exported[name] ?? '') : exported[name]!,
    );

  it.each(Object.keys(sectionsOf))('%s has every setting production requires', (name) => {
    const environment = compose.services[name]!.environment ?? {};
    const env = Object.fromEntries(Object.entries(environment).map(([k, v]) => [k, substitute(v)]));
    expect(env.FLOWS_ENV).toBe('production');
    expect(() => loadConfig(sectionsOf[name]!, env)).not.toThrow();
  });
});

describe('.env.example', () => {
  it('documents every variable the configuration knows', () => {
    const example = readFileSync(path.join(projectRoot, '.env.example'), 'utf8');
    for (const variable of knownVariables) expect(example, variable).toMatch(new RegExp(`^#? ?${variable}=`, 'm'));
  });
});
