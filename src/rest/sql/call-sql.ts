// The function call of an RPC (contract §8): arguments typed by json_to_record from one JSON
// parameter, named notation, VARIADIC; scalar results as `pgrst_scalar`.
import { quoteIdent } from '../../db/client.ts';
import type { RoutineCall } from '../plan/routine-plan.ts';
import { qualifiedIdent, type SqlParams } from './params.ts';

export const returnsScalar = (call: RoutineCall): boolean => call.routine.returnKind !== 'composite';

/** `args`: the JSON object of arguments, or the raw value of a single unnamed parameter. */
export function callSql(call: RoutineCall, args: string | Buffer, params: SqlParams): string {
  const { routine } = call;
  const fn = qualifiedIdent(routine);
  const scalar = returnsScalar(call);
  const invoke = (argumentList: string) =>
    scalar ? `(SELECT ${fn}(${argumentList}) pgrst_scalar) pgrst_call` : `${fn}(${argumentList}) pgrst_call`;
  const columns = scalar ? 'pgrst_call.pgrst_scalar' : 'pgrst_call.*';
  if (call.kind === 'single') {
    return `SELECT ${columns} FROM ${invoke(`${params.add(args)}::${routine.params[0]!.type}`)}`;
  }
  if (call.supplied.length === 0) return `SELECT ${columns} FROM ${invoke('')}`;
  const definition = call.supplied.map((p) => `${quoteIdent(p.name)} ${p.type}`).join(', ');
  const argumentList = call.supplied
    .map((p) => `${p.variadic ? 'VARIADIC ' : ''}${quoteIdent(p.name)} := pgrst_body.${quoteIdent(p.name)}`)
    .join(', ');
  return `SELECT ${columns} FROM json_to_record(${params.add(args)}::json) AS pgrst_body(${definition}), LATERAL ${invoke(argumentList)}`;
}
