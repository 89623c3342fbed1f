// The scenario's API clients: N concurrent loops over loopback, each choosing a request from a fixed mix
// of operator and customer reads and operator writes. Every write names a new customer uniquely, so the
// checks can tell acknowledged writes (must exist exactly once) from unanswered ones (at most once).
import { createRandom } from '../../src/seed/random.ts';

export interface LoadTokens {
  operator: string;
  customer: string;
  /** The operator's ESCO, for writes. */
  esco: string;
}

export interface LoadResult {
  requests: number;
  byStatus: Map<number, number>;
  /** Requests that got no HTTP answer (connection refused or reset). */
  networkErrors: number;
  latenciesMs: number[];
  /** Names of customers whose insert was acknowledged (201). */
  acknowledged: string[];
  /** Names whose insert got no 2xx answer (it may or may not have happened). */
  unanswered: string[];
}

interface Call {
  method: 'GET' | 'POST';
  path: string;
  token: keyof Omit<LoadTokens, 'esco'>;
  profile?: 'flows';
  write?: boolean;
}

const MIX: [weight: number, call: Call][] = [
  [
    25,
    {
      method: 'GET',
      path: '/accounts?select=id,account_number,billing_mode&order=account_number&limit=20',
      token: 'operator',
    },
  ],
  [
    20,
    {
      method: 'GET',
      path: '/meter_shadows?select=id,balance,csq,health&order=id&limit=50',
      token: 'operator',
      profile: 'flows',
    },
  ],
  [
    15,
    {
      method: 'GET',
      path: '/invoices?select=id,number,total,status,invoice_lines(line_type,amount)&limit=10',
      token: 'operator',
    },
  ],
  [15, { method: 'GET', path: '/rpc/my_account', token: 'customer' }],
  [
    5,
    {
      method: 'GET',
      path: '/meter_registry?select=serial,meter_shadows(balance)&limit=5',
      token: 'customer',
      profile: 'flows',
    },
  ],
  [20, { method: 'POST', path: '/customers', token: 'operator', write: true }],
];
const TOTAL_WEIGHT = MIX.reduce((sum, [w]) => sum + w, 0);

function pick(r: number): Call {
  let x = r * TOTAL_WEIGHT;
  for (const [weight, call] of MIX) {
    if ((x -= weight) < 0) return call;
  }
  return MIX[MIX.length - 1]![1];
}

/** Runs `clients` loops against `baseUrl` until `signal` aborts; resolves with what they saw. */
export async function runLoad(
  baseUrl: string,
  tokens: LoadTokens,
  clients: number,
  signal: AbortSignal,
): Promise<LoadResult> {
  const result: LoadResult = {
    requests: 0,
    byStatus: new Map(),
    networkErrors: 0,
    latenciesMs: [],
    acknowledged: [],
    unanswered: [],
  };
  const loop = async (client: number) => {
    const random = createRandom(client + 1);
    for (let n = 0; !signal.aborted; n++) {
      const call = pick(random.next());
      const name = `load-${client}-${n}`;
      const headers: Record<string, string> = { authorization: `Bearer ${tokens[call.token]}` };
      if (call.profile) headers['accept-profile'] = call.profile;
      let body: string | undefined;
      if (call.write) {
        headers['content-type'] = 'application/json';
        headers.prefer = 'return=minimal';
        body = JSON.stringify({ esco: tokens.esco, name, email: `${name}@example.org` });
      }
      const started = performance.now();
      let status: number | undefined;
      try {
        const response = await fetch(`${baseUrl}${call.path}`, { method: call.method, headers, body });
        await response.arrayBuffer();
        status = response.status;
      } catch {
        result.networkErrors++;
        // Without an answer the client backs off briefly, as a real one would.
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      result.latenciesMs.push(performance.now() - started);
      result.requests++;
      if (status !== undefined) result.byStatus.set(status, (result.byStatus.get(status) ?? 0) + 1);
      if (call.write) (status === 201 ? result.acknowledged : result.unanswered).push(name);
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, i) => loop(i)));
  return result;
}

/** The q-quantile (0–1) of `values`. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
