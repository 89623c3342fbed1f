// The SQLSTATE → HTTP status table (contract §9.2), on its own.
import { describe, expect, it } from 'vitest';
import { statusForSqlState } from '../../src/rest/errors.ts';

describe('statusForSqlState', () => {
  it.each([
    ['08006', 503],
    ['09000', 500],
    ['0L000', 403],
    ['0P000', 403],
    ['21000', 500],
    ['23503', 409],
    ['23505', 409],
    ['23502', 400],
    ['23514', 400],
    ['25006', 405],
    ['25P02', 500],
    ['2D000', 500],
    ['28P01', 403],
    ['38000', 500],
    ['39000', 500],
    ['3B000', 500],
    ['40001', 500],
    ['42883', 404],
    ['42P01', 404],
    ['42P17', 500],
    ['42703', 400],
    ['53400', 500],
    ['53300', 503],
    ['54000', 500],
    ['55P03', 500],
    ['57014', 500],
    ['57P01', 503],
    ['58000', 500],
    ['F0000', 500],
    ['HV000', 500],
    ['XX000', 500],
    ['P0002', 500],
    ['P0001', 400],
    ['PT402', 402],
    ['22P02', 400],
  ])('%s ⇒ %i', (code, status) => {
    expect(statusForSqlState(code, 'some message', true)).toBe(status);
  });

  it('depends on the message or the caller where the contract says so', () => {
    expect(statusForSqlState('21000', 'UPDATE requires a WHERE clause', true)).toBe(400);
    expect(statusForSqlState('22023', 'role "x" does not exist', true)).toBe(401);
    expect(statusForSqlState('22023', 'invalid value', true)).toBe(400);
    expect(statusForSqlState('42883', 'function xmlagg(integer) does not exist', true)).toBe(406);
    expect(statusForSqlState('42501', 'permission denied', true)).toBe(403);
    expect(statusForSqlState('42501', 'permission denied', false)).toBe(401);
  });
});
