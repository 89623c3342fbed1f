import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/config.ts';
import { many, one, withClient } from '../../src/db/client.ts';
import { DemoDataPresentError, seedDemo } from '../../src/seed/demo.ts';
import { createTestDatabase, useTestDatabase } from '../support/database.ts';

const days = 3;

async function fingerprint(url: string): Promise<unknown> {
  return withClient(url, (c) =>
    one(
      c,
      `select (select count(*) from flows.register_interval_hh) as rows,
              (select sum(import_kwh) from flows.register_interval_hh) as import_kwh,
              (select sum(export_kwh) from flows.register_interval_hh) as export_kwh,
              (select string_agg(serial, ',' order by serial) from flows.meter_registry) as serials,
              (select string_agg(s.balance::text, ',' order by r.serial)
                 from flows.meter_shadows s join flows.meter_registry r on r.id = s.id) as balances`,
    ),
  );
}

describe('flows seed demo', () => {
  const db = useTestDatabase();

  it('creates WLCE and HMCE with ~60 homes, tariffs and half-hourly data through the ingest path', async () => {
    const progress: number[] = [];
    const summary = await withClient(db.url, (c) =>
      seedDemo(c, { days, seed: 7, onProgress: (done) => progress.push(done) }),
    );
    expect(summary).toMatchObject({ escos: 2, properties: 60, meters: 60 });
    expect(summary.registers).toBe(80); // every third meter is dual-element
    expect(summary.customers).toBe(62); // plot 05 of each ESCO: a move-out and a move-in
    expect(progress).toEqual([1, 2, 3]);
    await withClient(db.url, async (c) => {
      const escos = await many<{ code: string }>(c, 'select code from flows.escos order by code');
      expect(escos.map((e) => e.code)).toEqual(['HMCE', 'WLCE']);
      const tariffs = await one<{ n: string }>(c, 'select count(*) as n from public.microgrid_tariffs');
      expect(Number(tariffs.n)).toBe(8); // four quarters per ESCO
      const sources = await many<{ source: string }>(c, 'select distinct source from flows.register_interval_hh');
      expect(sources).toEqual([{ source: 'demo' }]);
      const solar = await one<{ n: string }>(
        c,
        'select count(*) as n from flows.register_interval_hh where export_kwh > 0',
      );
      expect(Number(solar.n)).toBeGreaterThan(0);
      // the move-out and move-in: one property, two accounts, consecutive supplies
      const moves = await many<{ start_date: string; end_date: string | null }>(
        c,
        `select s.start_date::text, s.end_date::text from public.account_supplies s
           join flows.properties p on p.id = s.property join flows.sites_new t on t.id = p.site
          where t.code = 'WL1' and p.plot = '05' order by s.start_date`,
      );
      expect(moves).toHaveLength(2);
      expect(moves[0]!.end_date).toBe(moves[1]!.start_date);
    });
  });

  it('refuses to seed twice', async () => {
    await expect(withClient(db.url, (c) => seedDemo(c, { days: 1, seed: 7 }))).rejects.toBeInstanceOf(
      DemoDataPresentError,
    );
  });

  it('makes the same data for the same seed', async () => {
    const until = new Date('2026-10-26T00:00:00Z'); // includes the 50-half-hour day of 25 October
    const [a, b] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    try {
      await withClient(a.url, (c) => seedDemo(c, { days: 2, seed: 42, until }));
      await withClient(b.url, (c) => seedDemo(c, { days: 2, seed: 42, until }));
      expect(await fingerprint(a.url)).toEqual(await fingerprint(b.url));
    } finally {
      await Promise.all([a.drop(), b.drop()]);
    }
  });

  it('answers the runbook queries of docs/runbook-queries.md', async () => {
    const doc = readFileSync(path.join(projectRoot, 'docs', 'runbook-queries.md'), 'utf8');
    const queries = [...doc.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(queries).toHaveLength(5);
    const pool = new pg.Pool({ connectionString: db.url });
    try {
      const results = [];
      for (const sql of queries) results.push((await pool.query(sql)).rows);
      const [status, balances, profile, sites, shared] = results as [
        Array<{ serial: string; balance: string }>,
        unknown[],
        unknown[],
        Array<{ site: string; properties: string; meters: string }>,
        unknown[],
      ];
      expect(status).toEqual([expect.objectContaining({ serial: 'EML742007919' })]);
      expect(balances.length).toBeGreaterThan(0);
      expect(profile.length).toBeGreaterThanOrEqual(46);
      expect(sites.map((s) => [s.site, Number(s.properties), Number(s.meters)])).toEqual([
        ['HM1', 24, 24],
        ['WL1', 36, 36],
      ]);
      // the demo's shared service heads name the home each meter supplies
      expect(shared).toEqual([]);
    } finally {
      await pool.end();
    }
  });
});
