// A pg.Pool whose end() waits until every connection has closed (pg-pool's own end() resolves
// before the sockets do, so a database dropped right after would kill them mid-close).
import pg from 'pg';

export interface ClosablePool {
  pool: pg.Pool;
  /** Ends the pool and waits for its connections to close. */
  end(): Promise<void>;
}

export function closablePool(options: pg.PoolConfig, onError: (error: Error) => void): ClosablePool {
  const pool = new pg.Pool(options);
  const open = new Set<pg.ClientBase>();
  pool.on('error', onError);
  pool.on('connect', (client) => {
    open.add(client);
    client.on('error', onError);
    client.once('end', () => open.delete(client));
  });
  return {
    pool,
    async end() {
      const closing = [...open].map((client) => new Promise((resolve) => client.once('end', resolve)));
      await pool.end();
      await Promise.all(closing);
    },
  };
}
