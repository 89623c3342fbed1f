// Runs the REST suite on its own (`npx vitest run --config test/rest/vitest.config.ts`): its files
// create their own databases on the system PostgreSQL and need no global setup — except
// flows-api.test.ts, which runs on the shared harness (`npx vitest run test/rest`).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/rest/**/*.test.ts'],
    exclude: ['test/rest/flows-api.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    fileParallelism: true,
  },
});
