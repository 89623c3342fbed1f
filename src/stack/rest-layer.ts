// The REST layer: the real `postgrest` binary when one is installed (PGRST_BIN or PATH), else the
// built-in PostgREST-compatible gateway (src/rest/). Both read the same PGRST_* settings.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Env, RestConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { startGateway } from '../rest/gateway.ts';

export interface RunningRest {
  url: string;
  kind: 'postgrest' | 'gateway';
  stop(): Promise<void>;
}

/** The postgrest executable to run, if any. */
export function findPostgrestBinary(config: RestConfig, pathVariable: string | undefined): string | undefined {
  if (config.bin !== undefined) return config.bin;
  for (const dir of (pathVariable ?? '').split(path.delimiter)) {
    if (dir !== '' && existsSync(path.join(dir, 'postgrest'))) return path.join(dir, 'postgrest');
  }
  return undefined;
}

function publicHost(host: string): string {
  return ['!4', '*4', '*', '0.0.0.0'].includes(host) ? '127.0.0.1' : ['!6', '*6', '::'].includes(host) ? '[::1]' : host;
}

export async function startRestLayer(config: RestConfig, env: Env, log: Logger): Promise<RunningRest> {
  const binary = findPostgrestBinary(config, env.PATH);
  if (binary !== undefined) return startPostgrest(binary, config, env, log);
  const gateway = await startGateway(config, log.child({ component: 'rest' }), { maxBodyBytes: config.maxBodyBytes });
  return { url: gateway.url, kind: 'gateway', stop: () => gateway.close() };
}

async function startPostgrest(binary: string, config: RestConfig, env: Env, log: Logger): Promise<RunningRest> {
  const child = spawn(binary, [], { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const rest = log.child({ component: 'postgrest' });
  child.stdout.on('data', (d: Buffer) => rest.info(d.toString().trim()));
  child.stderr.on('data', (d: Buffer) => rest.warn(d.toString().trim()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://${publicHost(config.serverHost)}:${config.serverPort}`;
  // Ready when it answers (any status): PostgREST listens once its schema cache is loaded.
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`postgrest (${binary}) exited with code ${child.exitCode}`);
    const ok = await fetch(`${url}/`, { method: 'HEAD' }).then(
      () => true,
      () => false,
    );
    if (ok) break;
    if (attempt > 200) throw new Error(`postgrest did not answer on ${url} within 20 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  log.info({ url, binary }, 'postgrest started');
  return {
    url,
    kind: 'postgrest',
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
