import { describe, expect, it } from 'vitest';
import { encode } from '../codec.js';
import { OpLog } from '../op-log.js';
import { VersionVector } from '../version-vector.js';
import { logFixture, remoteOp, write } from './op-log-fixture.js';
import type { StoreHarness } from './store-conformance.js';

/**
 * The op log's contract on reopening, run over a store backend: what it recovers of itself (vectors,
 * LSNs, clock, tips), and how it refuses a store that is not its own or is damaged.
 */
export function runOpLogReopenConformance(name: string, harness: StoreHarness): void {
  describe(`OpLog conformance, reopening: ${name}`, () => {
    const { create, reopen, openLog } = logFixture(harness);

    it('recovers its vectors, LSNs and clock on reopen, monotonic even with the clock set back', async () => {
      const store = await create();
      let wall = Date.now();
      const log = await openLog(store, { clock: { now: () => wall } });
      await log.appendLocal([write('x'), write('y')]);
      await log.append([remoteOp('b', 1)]);
      await log.truncate(VersionVector.from({ a: 2 }));
      const before = { vv: log.versionVector.toJSON(), base: log.baseVector.toJSON(), lsn: log.nextLsn };
      const lastHlc = log.clock.highWater;
      await log.close();
      wall -= 3_600_000; // the wall clock steps back an hour across the restart
      const again = await openLog(await reopen(store), { clock: { now: () => wall } });
      expect({
        vv: again.versionVector.toJSON(),
        base: again.baseVector.toJSON(),
        lsn: again.nextLsn,
      }).toEqual(before);
      const [next] = await again.appendLocal([write('z')]);
      expect(next?.seq).toBe(3);
      expect(next?.hlc).toBeGreaterThan(lastHlc);
      expect(again.baseVector.toJSON()).toEqual({ a: 2 });
      expect(await again.verify()).toEqual({ entries: 2, ops: 2 });
    });

    it("tells the seq and timestamp of each origin's last op, and reads one op, also after reopen", async () => {
      const store = await create();
      const log = await openLog(store);
      expect(log.tipOf('a')).toBeUndefined();
      const [x] = await log.appendLocal([write('x')]);
      const [y] = await log.appendLocal([write('y')]);
      const b2 = remoteOp('b', 2);
      await log.append([remoteOp('b', 1), b2]);
      expect(log.tipOf('a')).toEqual({ seq: 2, hlc: y?.hlc });
      expect(log.tipOf('b')).toEqual({ seq: 2, hlc: b2.hlc });
      expect(await log.opAt('a', 1)).toEqual(x);
      expect(await log.opAt('a', 3), 'not in the log').toBeUndefined();
      expect(await log.opAt('c', 1)).toBeUndefined();
      await log.truncate(VersionVector.from({ a: 1 }));
      expect(await log.opAt('a', 1), 'truncated').toBeUndefined();
      await log.close();
      const reopened = await reopen(store);
      const again = await openLog(reopened);
      expect(again.tipOf('a')).toEqual({ seq: 2, hlc: y?.hlc });
      expect(again.tipOf('b')).toEqual({ seq: 2, hlc: b2.hlc });
      expect(await again.opAt('a', 2)).toEqual(y);
      await again.truncate(again.versionVector);
      expect(await again.opAt('a', 2), 'truncated').toBeUndefined();
      await again.close();
      const emptied = await openLog(await reopen(reopened));
      expect(emptied.tipOf('a'), 'stored by the truncation').toEqual({ seq: 2, hlc: y?.hlc });
      expect(emptied.tipOf('b')).toEqual({ seq: 2, hlc: b2.hlc });
    });

    it('raises a tip to an op an installed state showed, keeps it across reopens, and refuses one beyond the vector', async () => {
      const store = await create();
      const log = await openLog(store);
      const b1 = remoteOp('b', 1);
      await log.append([b1]);
      const shown = { seq: 4, hlc: b1.hlc + 10 };
      const installed = VersionVector.from({ b: 5, c: 2 });
      expect(
        () => log.install(installed, [], new Map([['b', { seq: 6, hlc: b1.hlc }]])),
        'beyond the vector',
      ).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
      expect(log.versionVector.get('b'), 'nothing installed').toBe(1);
      await log.install(
        installed,
        [],
        new Map([
          ['b', shown],
          ['c', { seq: 2, hlc: b1.hlc + 20 }],
        ]),
      );
      expect(log.tipOf('b')).toEqual(shown);
      expect(log.tipOf('c')).toEqual({ seq: 2, hlc: b1.hlc + 20 });
      // A state showing an earlier op leaves the tip where it is.
      await log.install(installed, [], new Map([['b', { seq: 2, hlc: b1.hlc + 5 }]]));
      expect(log.tipOf('b')).toEqual(shown);
      await log.close();
      const again = await openLog(await reopen(store));
      expect(again.tipOf('b'), 'above the last op of b the log holds').toEqual(shown);
      expect(again.tipOf('c')).toEqual({ seq: 2, hlc: b1.hlc + 20 });
      const b6 = remoteOp('b', 6);
      await again.append([b6]);
      expect(again.tipOf('b')).toEqual({ seq: 6, hlc: b6.hlc });
      await again.close();
    });

    it('refuses a store that belongs to another node with STORE_WRONG_NODE', async () => {
      const store = await create();
      await (await openLog(store)).appendLocal([write('x')]);
      await expect(OpLog.open({ store, nodeId: 'other' })).rejects.toMatchObject({
        code: 'STORE_WRONG_NODE',
      });
      await expect(OpLog.open({ store, nodeId: 'bad id!' })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    });

    it('refuses a store holding data that is not an op log with STORE_FORMAT', async () => {
      const store = await create();
      await store.commit([{ table: 'meta', key: 'something', value: new Uint8Array([1]) }]);
      await expect(openLog(store)).rejects.toMatchObject({ code: 'STORE_FORMAT' });
    });

    it('reports a damaged meta record as STORE_CORRUPT', async () => {
      const store = await create();
      await (await openLog(store)).appendLocal([write('x')]);
      await store.commit([{ table: 'meta', key: 'vv', value: new Uint8Array([0xc1]) }]);
      await expect(openLog(store)).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
    });

    it('reports damaged stored tips as STORE_CORRUPT', async () => {
      const store = await create();
      await (await openLog(store)).appendLocal([write('x')]);
      for (const tips of [7, ['a', 1], ['a', 0, 2 ** 40], ['a', 1, 'soon'], ['a', 2, 2 ** 40]]) {
        await store.commit([{ table: 'meta', key: 'tips', value: encode(tips) }]);
        await expect(openLog(store), JSON.stringify(tips)).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
      }
    });
  });
}
