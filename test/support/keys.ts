// Service tokens for tests that go through the REST layer: a registered key (internal.api_keys), made the
// way `flows keys create` makes one, since the pre-request function refuses unregistered service tokens.
// (Tests that act as the service role directly in SQL, with asRole, need no key: no pre-request runs.)
import { randomBytes } from 'node:crypto';
import type { Queryable } from '../../src/db/client.ts';
import { createKey, type CreatedKey } from '../../src/keys/registry.ts';

export interface TestKeyOptions {
  scopes?: string[];
  name?: string;
  ttl?: string;
}

/** Registers a key of the ESCO with that code (superuser connection) and returns it with its token. */
export function registerServiceKey(
  db: Queryable,
  secret: string,
  escoCode: string,
  options: TestKeyOptions = {},
): Promise<CreatedKey> {
  return createKey(db, secret, {
    name: options.name ?? `test-${randomBytes(5).toString('hex')}`,
    esco: escoCode,
    scopes: options.scopes ?? ['read', 'rpc:*'],
    ttl: options.ttl ?? '1h',
    createdBy: 'test',
  });
}
