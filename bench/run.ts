// `npm run bench [-- <name> [flags]]`: runs each benchmark (bench/<name>/index.ts) in turn. Each
// prints its figure and the baseline it is measured against in the same run; defaults are sized
// to finish in a minute or two, and flags select the full size an issue names.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const [only, ...flags] = process.argv.slice(2);
const names = readdirSync(benchDir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(path.join(benchDir, d.name, 'index.ts')))
  .map((d) => d.name)
  .filter((name) => only === undefined || name === only);
if (names.length === 0) {
  process.stdout.write(only ? `no benchmark named ${only}\n` : 'no benchmarks yet\n');
  process.exit(only ? 1 : 0);
}
for (const name of names) {
  process.stdout.write(`\n== bench/${name}\n`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(benchDir, name, 'index.ts'), ...flags], {
    stdio: 'inherit',
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
