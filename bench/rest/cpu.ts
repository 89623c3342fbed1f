// CPU time of processes from /proc (Linux), so that the benchmark can tell what each request costs
// the machine, whatever else is running: the ratio of two throughputs on a loaded machine is the
// ratio of the CPU their requests cost.
import { readdirSync, readFileSync } from 'node:fs';

const microsPerTick = 10_000; // USER_HZ is 100 on Linux

/** The fields of /proc/<pid>/stat after the command name; undefined when it cannot be read. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** User + system CPU time of `pid` in µs (0 when it cannot be read). */
export function processCpu(pid: number): number {
  const fields = statFields(pid);
  return fields === undefined ? 0 : (Number(fields[11]) + Number(fields[12])) * microsPerTick;
}

export function parentOf(pid: number): number | undefined {
  const fields = statFields(pid);
  return fields === undefined ? undefined : Number(fields[1]);
}

/** User + system CPU time in µs of the children of `ppid` (a postmaster's backends). */
export function childrenCpu(ppid: number): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields !== undefined && Number(fields[1]) === ppid)
      total += (Number(fields[11]) + Number(fields[12])) * microsPerTick;
  }
  return total;
}
