import { afterEach } from 'vitest';
import { hlcFromWall } from '../hlc.js';
import type { Op, Write } from '../op.js';
import { OpLog, type OpLogOptions } from '../op-log.js';
import type { Store } from '../store.js';
import type { StoreHarness } from './store-conformance.js';

/** What the op log conformance suites share: writes, remote ops, and stores closed after each test. */

/** A local write of `key` in collection c. */
export const write = (key: string, value: number | string = key): Write => ({
  collection: 'c',
  key,
  mutation: [0, value],
});

/** An op from `origin` as another node would have written it. */
export function remoteOp(
  origin: string,
  seq: number,
  key = `${origin}-${seq}`,
  hlc = hlcFromWall(Date.now()) + seq,
): Op {
  return { origin, seq, hlc, collection: 'c', key, mutation: [0, seq] };
}

/**
 * Stores of `harness` for a suite's tests (call it inside the suite's describe): each one made or
 * reopened is closed after its test. `openLog` opens node a's log on a store.
 */
export function logFixture(harness: StoreHarness) {
  const stores: Store[] = [];
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close().catch(() => undefined);
  });
  return {
    async create(): Promise<Store> {
      const store = await harness.create();
      stores.push(store);
      return store;
    },
    async reopen(store: Store): Promise<Store> {
      const again = await harness.reopen(store);
      stores.push(again);
      return again;
    },
    openLog: (store: Store, options: Partial<OpLogOptions> = {}) =>
      OpLog.open({ store, nodeId: 'a', ...options }),
  };
}
