// Runs `flows <args>` in the test process with the given command groups registered, capturing what it writes to
// stdout and stderr (the commands read DATABASE_URL as the test set it). test/support/cli.ts runs the real
// command in a child process instead.
import { Command } from 'commander';
import { vi } from 'vitest';

export interface CliRun {
  out: string;
  err: string;
  /** What the command threw (commander's exit on a usage error included), if anything. */
  error: Error | undefined;
}

export async function runCli(registers: ((program: Command) => void)[], args: string[]): Promise<CliRun> {
  const program = new Command('flows').exitOverride();
  for (const register of registers) register(program);
  let out = '';
  let err = '';
  const o = vi
    .spyOn(process.stdout, 'write')
    .mockImplementation((c: string | Uint8Array) => ((out += String(c)), true));
  const e = vi
    .spyOn(process.stderr, 'write')
    .mockImplementation((c: string | Uint8Array) => ((err += String(c)), true));
  try {
    await program.parseAsync(['node', 'flows', ...args]);
    return { out, err, error: undefined };
  } catch (error) {
    return { out, err, error: error as Error };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

/** Runs a command that prints JSON; its error, if any, is thrown. */
export async function runCliJson(registers: ((program: Command) => void)[], args: string[]): Promise<unknown> {
  const run = await runCli(registers, args);
  if (run.error !== undefined) throw run.error;
  return JSON.parse(run.out) as unknown;
}
