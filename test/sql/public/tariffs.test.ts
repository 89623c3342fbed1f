// Tariffs: the one rate derivation, next quarter's tariffs, and the future-tariff work queue.
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { many, one } from '../../../src/db/client.ts';
import { asRole, usePool, useTestDatabase } from '../../support/database.ts';
import { asRoleAfter, buildWorld, claims, quarters, sqlstate, type World } from './fixtures.ts';

describe('public tariffs', () => {
  const db = useTestDatabase();
  const ctx = usePool(db);
  let world: World;
  let q: { current: string; next: string; previous: string };

  beforeAll(async () => {
    world = await buildWorld(ctx.pool);
    q = await quarters(ctx.pool);
    // Benchmarks for region J (ESCO A) this quarter and next; none for region K (ESCO B).
    await ctx.pool.query(
      `insert into public.benchmark_tariffs (region, quarter_start, unit_rate_inc_vat_gbp_kwh, standing_charge_inc_vat_gbp_day)
       values ('J', $1, 0.24500, 0.60000), ('J', $2, 0.28620, 0.52500)`,
      [q.current, q.next],
    );
    // ESCO A's tariff this quarter: 10 % off, prepay settings and an export rate to carry over.
    const tariff = await one<{ id: string }>(
      ctx.pool,
      `insert into public.microgrid_tariffs (esco, effective_from, discount_pct, unit_rate_a_gbp_kwh, unit_rate_b_gbp_kwh,
         export_rate_gbp_kwh, standing_charge_gbp_day, emergency_credit_gbp, ecredit_availability_gbp, debt_recovery_gbp_day)
       values ($1, $2, 10, 0.21000, 0.21000, 0.15000, 0.51429, 15.00, 10.00, 0.50) returning id`,
      [world.escoA, q.current],
    );
    // alice has 20 % off; bob's customer tariff has the ESCO's own discount, so it need not be carried over.
    await ctx.pool.query(
      `insert into public.customer_tariffs (customer, esco, microgrid_tariff, effective_from, discount_pct,
         unit_rate_a_gbp_kwh, unit_rate_b_gbp_kwh, standing_charge_gbp_day)
       values ($1, $3, $4, $5, 20, 0.18667, 0.18667, 0.45714), ($2, $3, $4, $5, 10, 0.21000, 0.21000, 0.51429)`,
      [world.customers.alice, world.customers.bob, world.escoA, tariff.id, q.current],
    );
  });

  describe('tariff_rate_ex_vat', () => {
    const derive = (c: pg.PoolClient, rate: string, discount: string, vat?: string) =>
      one<{ rate: string | null }>(
        c,
        vat === undefined
          ? `select public.tariff_rate_ex_vat($1::numeric, $2::numeric)::text as rate`
          : `select public.tariff_rate_ex_vat($1::numeric, $2::numeric, $3::numeric)::text as rate`,
        vat === undefined ? [rate, discount] : [rate, discount, vat],
      ).then((r) => r.rate);

    it('derives ex-VAT rates to exactly 5 dp', async () => {
      await asRole(ctx.pool, 'operator', claims.opA, async (c) => {
        expect(await derive(c, '0.24500', '10')).toBe('0.21000'); // 0.245 × 0.9 ÷ 1.05 = 0.21 exactly
        expect(await derive(c, '0.28620', '0')).toBe('0.27257'); // 0.272571…
        expect(await derive(c, '0.28620', '10')).toBe('0.24531'); // 0.245314…
        expect(await derive(c, '0.52500', '20')).toBe('0.40000');
        expect(await derive(c, '0.60000', '15')).toBe('0.48571'); // 0.485714…
        expect(await derive(c, '0.24000', '0', '20')).toBe('0.20000');
      });
    });

    it('rounds half away from zero, once', async () => {
      await asRole(ctx.pool, 'operator', claims.opA, async (c) => {
        // 0.12961725 ÷ 1.05 = 0.123445 exactly: half away from zero gives …45 (banker's rounding would give …44).
        expect(await derive(c, '0.12961725', '0')).toBe('0.12345');
        // 0.12962775 ÷ 1.05 = 0.123455 exactly.
        expect(await derive(c, '0.12962775', '0')).toBe('0.12346');
      });
    });

    it('refuses impossible inputs with 22023 and passes nulls through', async () => {
      await asRole(ctx.pool, 'operator', claims.opA, async (c) => {
        expect(await sqlstate(c.query(`select public.tariff_rate_ex_vat(0.3, 101)`))).toBe('22023');
      });
      await asRole(ctx.pool, 'operator', claims.opA, async (c) => {
        expect(await sqlstate(c.query(`select public.tariff_rate_ex_vat(-0.3, 10)`))).toBe('22023');
      });
      await asRole(ctx.pool, 'operator', claims.opA, async (c) => {
        expect(await derive(c, '0.3', null as unknown as string)).toBeNull();
      });
    });
  });

  describe('generate_new_quarter_tariffs', () => {
    interface Created {
      esco_code: string;
      kind: string;
      customer_id: string | null;
      effective_from: string;
      discount_pct: string;
      unit_rate_a_gbp_kwh: string;
      unit_rate_b_gbp_kwh: string;
      standing_charge_gbp_day: string;
    }
    const generate = (c: pg.PoolClient, quarter: string, esco: string | null) =>
      many<Created>(
        c,
        `select esco_code, kind, customer_id, effective_from::text, discount_pct::text, unit_rate_a_gbp_kwh::text,
                unit_rate_b_gbp_kwh::text, standing_charge_gbp_day::text
           from public.generate_new_quarter_tariffs($1::date, $2)`,
        [quarter, esco],
      );

    it('creates the ESCO tariff and differing customer tariffs from the new benchmark, carrying settings over', async () => {
      await asRole(ctx.pool, 'operator', claims.opA, async (c) => {
        const created = await generate(c, q.next, 'wlce');
        expect(created).toEqual([
          {
            esco_code: 'WLCE',
            kind: 'microgrid',
            customer_id: null,
            effective_from: q.next,
            discount_pct: '10.00',
            unit_rate_a_gbp_kwh: '0.24531',
            unit_rate_b_gbp_kwh: '0.24531',
            standing_charge_gbp_day: '0.45000',
          },
          {
            esco_code: 'WLCE',
            kind: 'customer',
            customer_id: world.customers.alice,
            effective_from: q.next,
            discount_pct: '20.00',
            unit_rate_a_gbp_kwh: '0.21806',
            unit_rate_b_gbp_kwh: '0.21806',
            standing_charge_gbp_day: '0.40000',
          },
        ]);
        const tariff = await one<Record<string, string>>(
          c,
          `select export_rate_gbp_kwh::text, emergency_credit_gbp::text, ecredit_availability_gbp::text,
                  debt_recovery_gbp_day::text, (benchmark_tariff is not null)::text as has_benchmark
             from public.microgrid_tariffs where effective_from = $1`,
          [q.next],
        );
        expect(tariff).toEqual({
          export_rate_gbp_kwh: '0.15000',
          emergency_credit_gbp: '15.00',
          ecredit_availability_gbp: '10.00',
          debt_recovery_gbp_day: '0.50',
          has_benchmark: 'true',
        });
        const link = await one<{ linked: boolean }>(
          c,
          `select ct.microgrid_tariff = mt.id as linked from public.customer_tariffs ct
             join public.microgrid_tariffs mt on mt.effective_from = ct.effective_from and mt.esco = ct.esco
            where ct.customer = $1 and ct.effective_from = $2`,
          [world.customers.alice, q.next],
        );
        expect(link.linked).toBe(true);
      });
    });

    it('is idempotent: a second run creates nothing', async () => {
      await asRole(ctx.pool, 'operator', claims.opA, async (c) => {
        expect(await generate(c, q.next, 'WLCE')).toHaveLength(2);
        const count = `select (select count(*) from public.microgrid_tariffs) + (select count(*) from public.customer_tariffs) as n`;
        const before = await one<{ n: string }>(c, count);
        expect(await generate(c, q.next, 'WLCE')).toEqual([]);
        expect(await generate(c, q.next, null)).toEqual([]);
        expect(await one<{ n: string }>(c, count)).toEqual(before);
      });
    });

    it('acts only within the operator’s ESCOs', async () => {
      await asRole(ctx.pool, 'operator', claims.opA, async (c) => {
        expect(await sqlstate(generate(c, q.next, 'HMCE'))).toBe('PT404');
      });
      // op-b manages only HMCE, whose region has no benchmark: all-ESCO mode skips it and leaves WLCE alone.
      await asRole(ctx.pool, 'operator', claims.opB, async (c) => {
        expect(await generate(c, q.next, null)).toEqual([]);
        expect(await sqlstate(generate(c, q.next, 'WLCE'))).toBe('PT404');
      });
      const rows = await many(ctx.pool, `select 1 from public.microgrid_tariffs where effective_from = $1`, [q.next]);
      expect(rows).toEqual([]);
      await expect(asRole(ctx.pool, 'customer', claims.alice, (c) => generate(c, q.next, 'WLCE'))).rejects.toThrow(
        /permission denied for function generate_new_quarter_tariffs/,
      );
    });

    it('explains what is missing', async () => {
      await asRole(ctx.pool, 'operator', claims.opA, async (c) => {
        expect(await sqlstate(generate(c, '2027-02-01', 'WLCE'))).toBe('22023');
      });
      const later = new Date(`${q.next}T00:00:00Z`);
      later.setUTCMonth(later.getUTCMonth() + 3);
      await asRole(ctx.pool, 'operator', claims.opA, async (c) => {
        // no benchmark published for the quarter after next
        await expect(generate(c, later.toISOString().slice(0, 10), 'WLCE')).rejects.toMatchObject({
          code: 'PT404',
          hint: expect.stringMatching(/benchmark_tariffs/),
        });
      });
      await asRoleAfter(
        ctx.pool,
        (s) =>
          s.query(
            `insert into public.benchmark_tariffs (region, quarter_start, unit_rate_inc_vat_gbp_kwh, standing_charge_inc_vat_gbp_day)
             values ('K', $1, 0.3, 0.5)`,
            [q.next],
          ),
        'operator',
        claims.opB,
        async (c) => {
          // HMCE has a benchmark now, but no earlier tariff to carry over
          expect(await sqlstate(generate(c, q.next, 'HMCE'))).toBe('PT409');
        },
      );
    });
  });

  describe('meters_missing_future_tariffs', () => {
    interface Queued {
      serial: string;
      customer_id: string | null;
      effective_from: string;
      activation_utc: string;
      standing_charge: string;
      unit_rate_element_a: string;
      unit_rate_element_b: string;
      prepayment_emergency_credit: string;
      prepayment_ecredit_availability: string;
      prepayment_debt_recovery_rate: string;
      unit_rate_capped: boolean;
    }
    const queue = (c: pg.PoolClient, esco: string) =>
      many<Queued>(
        c,
        `select serial, customer_id, effective_from::text,
                to_char(activation_datetime at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"') as activation_utc,
                standing_charge::text, unit_rate_element_a::text, unit_rate_element_b::text,
                prepayment_emergency_credit::text, prepayment_ecredit_availability::text,
                prepayment_debt_recovery_rate::text, unit_rate_capped
           from public.meters_missing_future_tariffs($1)`,
        [esco],
      );
    // Next quarter's tariffs, as generate_new_quarter_tariffs makes them (superuser, inside the test's transaction).
    const nextQuarter = (s: pg.PoolClient) =>
      s.query(`select * from public.generate_new_quarter_tariffs($1::date, 'WLCE')`, [q.next]);
    const activation = () =>
      one<{ at: string }>(
        ctx.pool,
        `select to_char(($1::date)::timestamp at time zone 'Europe/London' at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"') as at`,
        [q.next],
      ).then((r) => r.at);

    it('lists every meter without the right future tariff, with VAT-inclusive values truncated to 5 dp', async () => {
      const at = await activation();
      await asRoleAfter(ctx.pool, nextQuarter, 'operator', claims.opA, async (c) => {
        const rows = await queue(c, 'WLCE');
        const common = {
          effective_from: q.next,
          activation_utc: at,
          prepayment_emergency_credit: '15.00',
          prepayment_ecredit_availability: '10.00',
          prepayment_debt_recovery_rate: '0.50',
          unit_rate_capped: false,
        };
        expect(rows).toEqual([
          // alice: her own 20 % tariff, 0.21806 × 1.05 = 0.228963 → 0.22896; 0.40 × 1.05 = 0.42
          {
            ...common,
            serial: 'EML-P1',
            customer_id: world.customers.alice,
            standing_charge: '0.42000',
            unit_rate_element_a: '0.22896',
            unit_rate_element_b: '0.22896',
          },
          // bob: the ESCO's tariff, 0.24531 × 1.05 = 0.2575755 → truncated 0.25757 (rounding would give 0.25758)
          {
            ...common,
            serial: 'EML-P2',
            customer_id: world.customers.bob,
            standing_charge: '0.47250',
            unit_rate_element_a: '0.25757',
            unit_rate_element_b: '0.25757',
          },
          // P4 is not supplied: the ESCO's tariff at 5 % VAT
          {
            ...common,
            serial: 'EML-P4',
            customer_id: null,
            standing_charge: '0.47250',
            unit_rate_element_a: '0.25757',
            unit_rate_element_b: '0.25757',
          },
        ]);
      });
    });

    it('leaves out meters that already report the tariff, whatever the JSON spelling', async () => {
      const at = await activation();
      await asRoleAfter(
        ctx.pool,
        async (s) => {
          await nextQuarter(s);
          // M4 holds exactly what it should (numbers), M2 the same values as strings but another activation time.
          await s.query(
            `update flows.meter_shadows set tariffs_future = jsonb_build_object(
               'standing_charge', 0.4725, 'unit_rate_element_a', 0.25757, 'unit_rate_element_b', 0.25757,
               'prepayment_emergency_credit', 15, 'prepayment_ecredit_availability', 10,
               'prepayment_debt_recovery_rate', 0.5, 'activation_datetime', $2::text) where id = $1`,
            [world.meters.m4, at],
          );
          await s.query(
            `update flows.meter_shadows set tariffs_future = jsonb_build_object(
               'standing_charge', '0.47250', 'unit_rate_element_a', '0.25757', 'unit_rate_element_b', '0.25757',
               'prepayment_emergency_credit', '15.00', 'prepayment_ecredit_availability', '10.00',
               'prepayment_debt_recovery_rate', '0.50', 'activation_datetime', '2020-01-01T00:00:00Z') where id = $1`,
            [world.meters.m2],
          );
        },
        'operator',
        claims.opA,
        async (c) => {
          expect((await queue(c, 'WLCE')).map((r) => r.serial)).toEqual(['EML-P1', 'EML-P2']);
        },
      );
    });

    it('lists a meter whose only difference is a rate, or a prepay setting', async () => {
      const at = await activation();
      await asRoleAfter(
        ctx.pool,
        async (s) => {
          await nextQuarter(s);
          const exact = `jsonb_build_object('standing_charge', 0.4725, 'unit_rate_element_a', 0.25757,
               'unit_rate_element_b', 0.25757, 'prepayment_emergency_credit', 15, 'prepayment_ecredit_availability', 10,
               'prepayment_debt_recovery_rate', 0.5, 'activation_datetime', $2::text)`;
          await s.query(`update flows.meter_shadows set tariffs_future = ${exact} where id = $1`, [
            world.meters.m4,
            at,
          ]);
          await s.query(
            `update flows.meter_shadows set tariffs_future = ${exact} || '{"unit_rate_element_b": 0.25758}' where id = $1`,
            [world.meters.m2, at],
          );
        },
        'operator',
        claims.opA,
        async (c) => {
          expect((await queue(c, 'WLCE')).map((r) => r.serial)).toEqual(['EML-P1', 'EML-P2']);
        },
      );
    });

    it('caps unit rates at £1 and says so', async () => {
      await asRoleAfter(
        ctx.pool,
        async (s) => {
          await nextQuarter(s);
          await s.query(
            `update public.customer_tariffs set unit_rate_b_gbp_kwh = 1.20000 where customer = $1 and effective_from = $2`,
            [world.customers.alice, q.next],
          );
        },
        'operator',
        claims.opA,
        async (c) => {
          const alice = (await queue(c, 'WLCE')).find((r) => r.serial === 'EML-P1');
          expect(alice).toMatchObject({
            unit_rate_element_a: '0.22896',
            unit_rate_element_b: '1.00000',
            unit_rate_capped: true,
          });
        },
      );
    });

    it('uses the VAT rate of the supplying account', async () => {
      await asRoleAfter(
        ctx.pool,
        async (s) => {
          await nextQuarter(s);
          await s.query(`update public.accounts set vat_rate_pct = 20 where id = $1`, [world.accounts.bob]);
        },
        'operator',
        claims.opA,
        async (c) => {
          const bob = (await queue(c, 'WLCE')).find((r) => r.serial === 'EML-P2');
          // 0.24531 × 1.2 = 0.294372 → 0.29437; 0.45 × 1.2 = 0.54
          expect(bob).toMatchObject({ unit_rate_element_a: '0.29437', standing_charge: '0.54000' });
        },
      );
    });

    it('is scoped to the caller’s ESCOs, and lists nothing without a future tariff', async () => {
      await asRoleAfter(ctx.pool, nextQuarter, 'operator', claims.opA, async (c) => {
        expect(await sqlstate(queue(c, 'HMCE'))).toBe('PT404');
      });
      await asRoleAfter(ctx.pool, nextQuarter, 'operator', claims.opB, async (c) => {
        expect(await sqlstate(queue(c, 'WLCE'))).toBe('PT404');
      });
      await asRoleAfter(ctx.pool, nextQuarter, 'operator', claims.opB, async (c) => {
        expect(await queue(c, 'HMCE')).toEqual([]);
      });
      await asRole(ctx.pool, 'operator', claims.opA, async (c) => {
        expect(await queue(c, 'WLCE')).toEqual([]); // no tariff after today yet
      });
      await asRole(ctx.pool, 'operator', claims.opA, async (c) => {
        expect(await sqlstate(queue(c, 'NOPE'))).toBe('PT404');
      });
      await expect(asRole(ctx.pool, 'customer', claims.alice, (c) => queue(c, 'WLCE'))).rejects.toThrow(
        /permission denied for function meters_missing_future_tariffs/,
      );
    });

    it('is the worker’s work queue across ESCOs', async () => {
      await asRoleAfter(ctx.pool, nextQuarter, 'worker', {}, async (c) => {
        expect((await queue(c, 'WLCE')).map((r) => r.serial)).toEqual(['EML-P1', 'EML-P2', 'EML-P4']);
      });
    });
  });
});
