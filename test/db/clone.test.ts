import { describe, expect, it } from 'vitest';
import { many, withClient } from '../../src/db/client.ts';
import { createTestDatabase } from '../support/database.ts';

describe('per-file test databases', () => {
  it('are clones of the migrated template that do not share data', async () => {
    const [a, b] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    try {
      expect(a.name).not.toBe(b.name);
      await withClient(a.url, (c) =>
        c.query(`insert into internal.worker_heartbeats (worker_id, source) values ('clone-a', 'test')`),
      );
      const inA = await withClient(a.url, (c) => many(c, `select worker_id from internal.worker_heartbeats`));
      const inB = await withClient(b.url, (c) => many(c, `select worker_id from internal.worker_heartbeats`));
      expect(inA).toEqual([{ worker_id: 'clone-a' }]);
      expect(inB).toEqual([]);
      const migrated = await withClient(b.url, (c) => many(c, 'select name from migrations.pgmigrations'));
      expect(migrated.length).toBeGreaterThan(0);
    } finally {
      await Promise.all([a.drop(), b.drop()]);
    }
  });
});
