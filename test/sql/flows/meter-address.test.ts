// One registry row per physical meter: the worker connects to host(ip_address):port, so an address must be a single
// host in one canonical form. inet compares netmask and family, so '10.20.0.5/24' and '::ffff:10.20.0.5' would pass
// the unique (ip_address, port) index next to another ESCO's 10.20.0.5 and point the worker at that ESCO's meter.
// Migration 0092 refuses them (check constraint) after normalising existing rows, and fails naming the meters when
// two rows turn out to address one device.
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { many } from '../../../src/db/client.ts';
import { asRole, usePool, useTestDatabase } from '../../support/database.ts';
import { createEsco, createMeter, createOperator } from './fixtures.ts';

const migration = () =>
  readFileSync(
    new URL('../../../migrations/0092_meter_single_host_statement_hash_per_esco.sql', import.meta.url),
    'utf8',
  );

describe('meter registry addresses', () => {
  const db = useTestDatabase();
  const ctx = usePool(db);
  let escoA: { id: string; code: string };
  let escoB: { id: string; code: string };
  let meterA: { id: string; serial: string };
  let meterB: { id: string; serial: string };
  let operatorA: { sub: string };

  beforeAll(async () => {
    escoA = await createEsco(ctx.pool);
    escoB = await createEsco(ctx.pool);
    meterA = await createMeter(ctx.pool, escoA.id, { ip: '10.20.0.4' });
    meterB = await createMeter(ctx.pool, escoB.id, { ip: '10.20.0.5', port: 8080 });
    operatorA = await createOperator(ctx.pool, [escoA.id]);
  });

  /** The error of one statement run as operator A (rolled back), or undefined when it succeeds. */
  const asOperatorA = async (sql: string, params: unknown[] = []) => {
    try {
      await asRole(ctx.pool, 'operator', { sub: operatorA.sub }, (c) => c.query(sql, params));
      return undefined;
    } catch (error) {
      return error as pg.DatabaseError;
    }
  };

  /** Says nothing about ESCO B's meter beyond what the unique index always said (the address is taken). */
  const revealsNothing = (error: pg.DatabaseError | undefined) => {
    const text = JSON.stringify({ ...error, message: error?.message });
    for (const secret of [meterB.id, meterB.serial, escoB.id, escoB.code]) expect(text).not.toContain(secret);
  };

  it("refuses, as an operator, another ESCO's meter address written with a netmask or as IPv4-mapped IPv6", async () => {
    for (const address of ['10.20.0.5/24', '::ffff:10.20.0.5', '::ffff:10.20.0.5/128', '10.20.0.0/16']) {
      const update = await asOperatorA(`update flows.meter_registry set ip_address = $2 where id = $1`, [
        meterA.id,
        address,
      ]);
      expect(update, address).toMatchObject({ code: '23514', constraint: 'meter_registry_ip_address_single_host' });
      revealsNothing(update);
      const insert = await asOperatorA(
        `insert into flows.meter_registry (esco, serial, ip_address, port) values ($1, 'MTRA0002', $2, 8080)`,
        [escoA.id, address],
      );
      expect(insert, address).toMatchObject({ code: '23514', constraint: 'meter_registry_ip_address_single_host' });
      revealsNothing(insert);
    }
  });

  it("refuses the same host and port as another ESCO's meter (23505), saying no more than that it is taken", async () => {
    for (const address of ['10.20.0.5', '10.20.0.5/32']) {
      const error = await asOperatorA(`update flows.meter_registry set ip_address = $2 where id = $1`, [
        meterA.id,
        address,
      ]);
      expect(error, address).toMatchObject({ code: '23505', constraint: 'meter_registry_ip_address_port_key' });
      // RLS is on: PostgreSQL leaves the key out of the detail, as before
      expect(error?.detail, address).toBeUndefined();
      revealsNothing(error);
    }
  });

  it('accepts single hosts: IPv4 /32, IPv6 /128, another port of the same host', async () => {
    for (const [address, port] of [
      ['10.20.0.6', 8080],
      ['10.20.0.7/32', 8080],
      ['fd00::5', 8080],
      ['fd00::6/128', 8080],
      ['10.20.0.5', 8081],
    ] as const) {
      expect(
        await asOperatorA(`update flows.meter_registry set ip_address = $2, port = $3 where id = $1`, [
          meterA.id,
          address,
          port,
        ]),
        address,
      ).toBeUndefined();
    }
    expect(
      await asOperatorA(`update flows.meter_registry set ip_address = '2001:db8::/64' where id = $1`, [meterA.id]),
    ).toMatchObject({ code: '23514' });
  });

  describe('migration 0092 on rows written before it', () => {
    /** Drops the constraint, writes `rows` as the owner would have, then runs the migration again. */
    async function migrateWith(rows: [string, string, number][]) {
      const client = await ctx.pool.connect();
      try {
        await client.query('begin');
        await client.query(`alter table flows.meter_registry drop constraint meter_registry_ip_address_single_host`);
        const ids: string[] = [];
        for (const [serial, address, port] of rows) {
          const { rows: r } = await client.query<{ id: string }>(
            `insert into flows.meter_registry (esco, serial, ip_address, port) values ($1, $2, $3, $4) returning id`,
            [serial.startsWith('B') ? escoB.id : escoA.id, serial, address, port],
          );
          ids.push(r[0]!.id);
        }
        const error = await client.query(migration()).then(
          () => undefined,
          (e: pg.DatabaseError) => e,
        );
        const after =
          error === undefined
            ? await many<{ serial: string; ip: string }>(
                client,
                `select serial, ip_address::text as ip from flows.meter_registry where id = any ($1) order by serial`,
                [ids],
              )
            : [];
        return { error, after };
      } finally {
        await client.query('rollback');
        client.release();
      }
    }

    it('normalises netmasks and IPv4-mapped addresses to the single host', async () => {
      const { error, after } = await migrateWith([
        ['A-NORM1', '10.40.0.1/24', 8080],
        ['A-NORM2', '::ffff:10.40.0.2', 8080],
        ['A-NORM3', '::ffff:10.40.0.3/104', 8080],
        ['A-NORM4', 'fd00::7/64', 8080],
        ['A-NORM5', '10.40.0.5', 8080],
      ]);
      expect(error).toBeUndefined();
      expect(after).toEqual([
        { serial: 'A-NORM1', ip: '10.40.0.1/32' },
        { serial: 'A-NORM2', ip: '10.40.0.2/32' },
        { serial: 'A-NORM3', ip: '10.40.0.3/32' },
        { serial: 'A-NORM4', ip: 'fd00::7/128' },
        { serial: 'A-NORM5', ip: '10.40.0.5/32' },
      ]);
    });

    it('fails naming the meters when two rows address one device', async () => {
      const { error } = await migrateWith([
        ['A-CLASH1', '10.50.0.1/24', 8080],
        ['B-CLASH1', '10.50.0.1', 8080],
        ['A-CLASH2', '::ffff:10.50.0.2', 9000],
        ['B-CLASH2', '10.50.0.2/8', 9000],
        ['A-FINE', '10.50.0.1/24', 8081],
      ]);
      expect(error).toMatchObject({ code: '23505' });
      expect(error!.message).toContain('A-CLASH1');
      expect(error!.message).toContain('B-CLASH1');
      expect(error!.message).toContain('10.50.0.1:8080');
      expect(error!.message).toContain('A-CLASH2');
      expect(error!.message).toContain('B-CLASH2');
      expect(error!.message).not.toContain('A-FINE');
    });
  });
});
