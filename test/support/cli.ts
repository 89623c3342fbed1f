// Runs the real `flows` command (bin/flows.js) in a child process.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { projectRoot, type Env } from '../../src/config.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runFlows(args: string[], env: Env, options: { cwd?: string; bin?: string } = {}): Promise<CliResult> {
  const bin = options.bin ?? path.join(projectRoot, 'bin', 'flows.js');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: env as NodeJS.ProcessEnv, cwd: options.cwd ?? projectRoot, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
