/**
 * ReplicaStore over every store backend (memory and LMDB), reading what is on disk: damaged state
 * entries and segments are refused with typed errors and change nothing, and what earlier versions
 * wrote (per-key rows, segment formats 1 to 3) still reads the same.
 */
import {
  DriftlessError,
  decode,
  encode,
  encodeOps,
  type Op,
  type Store,
  type StoreWrite,
  type Value,
} from '@driftless/core';
import { seededRandom } from '@driftless/core/testing';
import { ReplicaStore, SEGMENT_TABLE, STATE_TABLE } from '@driftless/crdt';
import { describe, expect, it } from 'vitest';
import {
  appendSegment,
  count,
  describeEachStore,
  dump,
  expectAgreement,
  openReplica,
  readsOf,
  runWorkload,
  segmentRange,
} from './replica-store-fixtures.js';

describeEachStore(({ create, reopen }) => {
  describe('refuses damaged stored state entries with SNAPSHOT_INVALID, changing nothing on disk', () => {
    const entry: Value = [0, [], [], []];
    // Earlier versions wrote segments of entries inline (format 2), and of their encoded bytes (1).
    const inline = [
      { what: 'a value that is not an entry', cells: ['docs', 'k0', 'entry'] },
      { what: 'an unknown type code', cells: ['docs', 'k0', [99, [], [], []]] },
      { what: 'a malformed winner stamp', cells: ['docs', 'k0', [0, [1, 'a', 0], [], []]] },
      { what: 'a malformed register state', cells: ['docs', 'k0', [0, [], [], [1, 2]]] },
      { what: 'an entry of bytes', cells: ['docs', 'k0', encode(entry)] },
      { what: 'an invalid key', cells: ['docs', '', entry] },
      { what: 'an invalid collection name', cells: ['bad name', 'k', entry] },
      { what: 'a segment missing a cell', cells: ['docs', 'k0'] },
    ];
    const asBytes = [
      { what: 'bytes that are not msgpack', cells: ['docs', 'k0', new Uint8Array([0xc1, 0x00])] },
      { what: 'a value that is not an entry', cells: ['docs', 'k0', encode('entry')] },
      { what: 'an unknown type code', cells: ['docs', 'k0', encode([99, [], [], []])] },
      { what: 'a malformed winner stamp', cells: ['docs', 'k0', encode([0, [1, 'a', 0], [], []])] },
      { what: 'a malformed register state', cells: ['docs', 'k0', encode([0, [], [], [1, 2]])] },
      { what: 'an entry that is neither bytes nor null', cells: ['docs', 'k0', entry] },
      { what: 'an invalid key', cells: ['docs', '', encode(entry)] },
    ];
    // Format 3, which checkpoints wrote before format 4: [3, collections, origins, cell…], a cell
    // being 0 (nothing), 1 (an entry) or 2 (a register's hlc, origin, seq, value) after its
    // collection index and key.
    const hlc = 1_800_000_000_000 * 1_024;
    const cellsV3 = [
      {
        what: 'a valid register cell, then an unknown cell',
        cells: [2, 0, 'k0', hlc, 0, 1, 'v', 9, 0, 'k1'],
      },
      { what: 'a cell whose tag is a string', cells: ['2', 0, 'k0', hlc, 0, 1, 'v'] },
      { what: 'a collection index out of range', cells: [0, 1, 'k0'] },
      { what: 'a collection index that is not a whole number', cells: [0, 0.5, 'k0'] },
      { what: 'an origin index out of range', cells: [2, 0, 'k0', hlc, 1, 1, 'v'] },
      { what: 'a register cell cut short', cells: [2, 0, 'k0', hlc, 0, 1] },
      { what: 'a register with a malformed stamp', cells: [2, 0, 'k0', hlc, 0, 0, 'v'] },
      { what: 'a register with a timestamp that is not one', cells: [2, 0, 'k0', 'then', 0, 1, 'v'] },
      { what: 'an entry cell whose entry is not an array', cells: [1, 0, 'k0', 'entry'] },
      { what: 'an entry cell with an unknown type code', cells: [1, 0, 'k0', [99, [], [], []]] },
      { what: 'an invalid key', cells: [0, 0, ''] },
      { what: 'a cell of format 4 (a string register)', cells: [3, 0, 'k0', hlc, 0, 1, 1] },
    ];
    // Format 4, which checkpoints write now: [4, collections, origins, keys, strings, cell…], each
    // cell's key a length into `keys`, a register's timestamp a delta from the previous one's, a
    // string register (3) holding its value as a length into `strings`.
    const cellsV4 = [
      { what: 'a key past the end of the keys', keys: 'k0', cells: [0, 0, 3] },
      { what: 'a key length that is not a whole number', keys: 'k0', cells: [0, 0, 1.5] },
      { what: 'a key length that is not a number', keys: 'k0', cells: [0, 0, 'k0'] },
      { what: 'keys no cell names', keys: 'k0k1', cells: [0, 0, 2] },
      { what: 'an empty key', keys: 'k0', cells: [0, 0, 0, 0, 0, 2] },
      { what: 'a key cut inside a character', keys: 'k\u{1F600}', cells: [0, 0, 2, 0, 0, 1] },
      {
        what: 'a value past the end of the strings',
        keys: 'k0',
        strings: 'v',
        cells: [3, 0, 2, hlc, 0, 1, 2],
      },
      { what: 'strings no cell names', keys: 'k0', strings: 'vw', cells: [3, 0, 2, hlc, 0, 1, 1] },
      {
        what: 'a value cut inside a character',
        keys: 'k0',
        strings: '\u{1F600}',
        cells: [3, 0, 2, hlc, 0, 1, 1],
      },
      { what: 'a timestamp delta that is not a number', keys: 'k0', cells: [2, 0, 2, 'then', 0, 1, 'v'] },
      { what: 'a timestamp delta that is not whole', keys: 'k0', cells: [2, 0, 2, 0.5, 0, 1, 'v'] },
      {
        what: 'timestamp deltas adding up to a negative timestamp',
        keys: 'k0k1',
        cells: [2, 0, 2, hlc, 0, 1, 'v', 2, 0, 2, -hlc - 1, 0, 2, 'v'],
      },
      { what: 'a register cell cut short', keys: 'k0', strings: 'v', cells: [3, 0, 2, hlc, 0, 1] },
    ];
    // Format 5: [5, from, to, entry, …], the log entries (op batches) of the ops above `from` up to
    // `to`. The workload's checkpoint holds a:1 and a:2, not z:1.
    const op = (origin: string, seq: number): Op => ({
      origin,
      seq,
      hlc: hlc + seq,
      collection: 'docs',
      key: 'k0',
      mutation: [0, 'v'],
    });
    const opsCases: { what: string; segment: Value[] }[] = [
      { what: 'no entries', segment: [[], ['a', 1]] },
      { what: 'a from that is not a vector', segment: ['a', ['a', 1], encodeOps([op('a', 1)])] },
      { what: 'a to below its from', segment: [['a', 2], ['a', 1], encodeOps([op('a', 1)])] },
      { what: 'an entry that is not bytes', segment: [[], ['a', 1], 'entry'] },
      { what: 'an entry that is not msgpack', segment: [[], ['a', 1], new Uint8Array([0xc1])] },
      { what: 'an entry that is not an op batch', segment: [[], ['a', 1], encode(['a', 1])] },
      { what: 'an op of its range missing', segment: [[], ['a', 2], encodeOps([op('a', 1)])] },
      { what: 'an op of its range twice', segment: [[], ['a', 2], encodeOps([op('a', 1), op('a', 1)])] },
      {
        what: 'the ops of its range out of order',
        segment: [[], ['a', 2], encodeOps([op('a', 2)]), encodeOps([op('a', 1)])],
      },
      { what: 'an op its checkpoint does not hold', segment: [[], ['z', 1], encodeOps([op('z', 1)])] },
    ];
    const damages: readonly { what: string; damage: (store: Store) => Promise<void> }[] = [
      ...cellsV3.map(({ what, cells }) => ({
        what: `format 3: ${what}`,
        damage: (store: Store) => appendSegment(store, [3, ['docs'], ['a'], ...(cells as Value[])]),
      })),
      {
        what: 'format 3: an invalid collection name in its table',
        damage: (store: Store) => appendSegment(store, [3, ['bad name'], [], 0, 0, 'k0']),
      },
      {
        what: 'format 3: an invalid origin in its table',
        damage: (store: Store) => appendSegment(store, [3, ['docs'], [''], 2, 0, 'k0', hlc, 0, 1, 'v']),
      },
      {
        what: 'format 3: no tables',
        damage: (store: Store) => appendSegment(store, [3, 'docs', 'k0', [0, [], [], []]]),
      },
      ...cellsV4.map(({ what, keys, strings, cells }) => ({
        what: `format 4: ${what}`,
        damage: (store: Store) =>
          appendSegment(store, [4, ['docs'], ['a'], keys, strings ?? '', ...(cells as Value[])]),
      })),
      {
        what: 'format 4: keys that are not a string',
        damage: (store: Store) => appendSegment(store, [4, ['docs'], ['a'], ['k0'], '', 0, 0, 2]),
      },
      {
        what: 'format 4: no strings',
        damage: (store: Store) => appendSegment(store, [4, ['docs'], ['a'], 'k0', 0, 0, 2]),
      },
      ...inline.map(({ what, cells }) => ({
        what: `format 2: ${what}`,
        damage: (store: Store) => appendSegment(store, [2, ...(cells as Value[])]),
      })),
      ...asBytes.map(({ what, cells }) => ({
        what: `format 1: ${what}`,
        damage: (store: Store) => appendSegment(store, [1, ...(cells as Value[])]),
      })),
      ...opsCases.map(({ what, segment }) => ({
        what: `format 5: ${what}`,
        damage: (store: Store) => appendSegment(store, [5, ...segment]),
      })),
      {
        what: 'a segment of an unknown format',
        damage: (store) => appendSegment(store, [6, 'docs', 'k0', entry]),
      },
      {
        what: 'a segment that is not msgpack',
        damage: async (store) => {
          const [first, next] = await segmentRange(store);
          await store.commit([
            { table: SEGMENT_TABLE, key: next, value: new Uint8Array([0xc1]) },
            { table: 'state_meta', key: 'segments', value: encode([first, next + 1]) },
          ]);
        },
      },
      // Rows of the per-key table stores of an earlier version wrote are still read.
      {
        what: 'a per-key row that is not msgpack',
        damage: (store) =>
          store.commit([{ table: STATE_TABLE, key: 'docs/old', value: new Uint8Array([0xc1]) }]),
      },
      {
        what: 'a per-key row without a collection',
        damage: (store) => store.commit([{ table: STATE_TABLE, key: 'nocollection', value: encode(entry) }]),
      },
    ];
    for (const { what, damage } of damages) {
      it(what, async () => {
        const store = await create();
        const replica = await openReplica(store);
        await runWorkload(replica, store, seededRandom(7), 5);
        await replica.write('docs', 'k0', { kind: 'set', value: 'here' });
        await replica.close();
        expect((await segmentRange(store))[1], 'the workload wrote segments').toBeGreaterThan(0);
        await damage(store);
        const rows = await dump(store);
        const failure = await ReplicaStore.open({ store, nodeId: 'a' }).then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(failure).toBeInstanceOf(DriftlessError);
        expect(failure).toMatchObject({ code: 'SNAPSHOT_INVALID' });
        expect(await dump(store)).toEqual(rows);
      });
    }
  });

  it('refuses a damaged segment range, or a segment missing from it, with STORE_CORRUPT', async () => {
    const store = await create();
    const replica = await openReplica(store);
    await runWorkload(replica, store, seededRandom(8), 5);
    await replica.close();
    const [first, next] = await segmentRange(store);
    expect(next - first).toBeGreaterThan(0);
    // Reversed, not a range, past the last segment, or gone while segments remain.
    for (const range of [encode([next, first]), encode('range'), encode([first, next + 1]), undefined]) {
      await store.commit([{ table: 'state_meta', key: 'segments', value: range }]);
      const rows = await dump(store);
      await expect(ReplicaStore.open({ store, nodeId: 'a' })).rejects.toMatchObject({
        code: 'STORE_CORRUPT',
      });
      expect(await dump(store)).toEqual(rows);
    }
    await store.commit([
      { table: 'state_meta', key: 'segments', value: encode([first, next]) },
      { table: SEGMENT_TABLE, key: first, value: undefined },
    ]);
    await expect(ReplicaStore.open({ store, nodeId: 'a' })).rejects.toMatchObject({
      code: 'STORE_CORRUPT',
    });
  });

  it('reads the per-key rows an earlier version wrote, and drops them at the first compaction', async () => {
    let store = await create();
    let replica = await openReplica(store);
    await runWorkload(replica, store, seededRandom(9), 5);
    const digest = replica.state.digest();
    const reads = readsOf(replica.state);
    // Rewrite the checkpoint as an earlier version stored it: a row per key, no segments.
    const rows: StoreWrite[] = [];
    for (const [collection, key] of replica.state.keyEntries())
      rows.push({
        table: STATE_TABLE,
        key: `${collection}/${key}`,
        value: replica.state.encodedEntry(collection, key),
      });
    await replica.checkpoint();
    await replica.close();
    const [first, next] = await segmentRange(store);
    const drop: StoreWrite[] = [{ table: 'state_meta', key: 'segments', value: undefined }];
    for (let n = first; n < next; n++) drop.push({ table: SEGMENT_TABLE, key: n, value: undefined });
    await store.commit([...drop, ...rows]);
    store = await reopen(replica, store);
    replica = await openReplica(store);
    expect(replica.state.digest()).toBe(digest);
    expect(readsOf(replica.state)).toEqual(reads);
    await expectAgreement(replica, store, 'per-key rows');
    // The first background checkpoint compacts: it rewrites every key into segments and deletes
    // the rows (whose keys the replica holds in memory until then).
    for (let round = 0; round < 40 && (await count(store, STATE_TABLE)) > 0; round++) {
      await Promise.all(
        Array.from({ length: 256 }, (_, i) =>
          replica.write('fill', `f${i % 64}`, { kind: 'set', value: round * 256 + i }),
        ),
      );
      // Background checkpoints run between turns of the event loop.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(await count(store, STATE_TABLE), 'the rows are gone').toBe(0);
    // Only the live segments are stored: the compaction deleted the ones it replaced.
    const [liveFirst, liveNext] = await segmentRange(store);
    expect(await count(store, SEGMENT_TABLE)).toBe(liveNext - liveFirst);
    await expectAgreement(replica, store, 'after the compaction');
    const after = replica.state.digest();
    store = await reopen(replica, store);
    replica = await openReplica(store);
    expect(replica.state.digest()).toBe(after);
  });

  for (const format of [1, 2, 3] as const) {
    it(`reads segments of format ${format} an earlier version wrote, and keeps them until a compaction`, async () => {
      let store = await create();
      let replica = await openReplica(store);
      await runWorkload(replica, store, seededRandom(10), 5);
      await replica.checkpoint();
      const digest = replica.state.digest();
      const reads = readsOf(replica.state);
      // Rewrite the checkpoint as the earlier version stored it: two segments, the second one
      // deleting a key the first one holds. Formats 1 and 2 hold [collection, key, entry] (1: the
      // entry's encoding; 2: the entry); format 3 [3, collections, origins, cell…], each key here
      // an entry cell (1) but the one deleted later, a register cell (2).
      const cells: Value[] = [];
      const collections: string[] = [];
      for (const [collection, key] of replica.state.keyEntries()) {
        const entry =
          format === 1
            ? replica.state.encodedEntry(collection, key)
            : replica.state.entryValue(collection, key);
        if (entry === undefined) continue;
        if (format !== 3) cells.push(collection, key, entry);
        else {
          if (!collections.includes(collection)) collections.push(collection);
          cells.push(1, collections.indexOf(collection), key, entry);
        }
      }
      expect(cells.length, 'the workload left keys').toBeGreaterThan(3);
      await replica.close();
      const [first, next] = await segmentRange(store);
      const rewrite: StoreWrite[] = [];
      for (let n = first; n < next; n++) rewrite.push({ table: SEGMENT_TABLE, key: n, value: undefined });
      const blank = [0, [], [], []];
      const docs = collections.length;
      const segments =
        format === 3
          ? [
              [3, [...collections, 'docs'], ['a'], ...cells, 2, docs, 'gone-later', 1_000, 0, 1, 'v'],
              [3, ['docs'], [], 0, 0, 'gone-later'],
            ]
          : [
              [format, ...cells, 'docs', 'gone-later', format === 1 ? encode(blank) : blank],
              [format, 'docs', 'gone-later', null],
            ];
      rewrite.push(
        { table: SEGMENT_TABLE, key: next, value: encode(segments[0] as Value) },
        { table: SEGMENT_TABLE, key: next + 1, value: encode(segments[1] as Value) },
        { table: 'state_meta', key: 'segments', value: encode([next, next + 2]) },
      );
      await store.commit(rewrite);
      store = await reopen(replica, store);
      replica = await openReplica(store);
      expect(replica.state.digest()).toBe(digest);
      expect(readsOf(replica.state)).toEqual(reads);
      await expectAgreement(replica, store, `format ${format} segments`);
      // Writes go on in format 4 beside them; a compaction rewrites every key in format 4.
      const formats = async () => {
        const found = new Set<number>();
        for await (const { value } of store.range(SEGMENT_TABLE))
          found.add(
            (decode(value, { maxFrameBytes: 1 << 30, maxDepth: 64, maxItems: 1e9 }) as number[])[0] as number,
          );
        return [...found].sort();
      };
      await replica.write('fill', 'f', { kind: 'set', value: 1 });
      await replica.checkpoint();
      expect(await formats()).toEqual([format, 4]);
      for (let round = 0; round < 40 && (await formats()).includes(format); round++) {
        await Promise.all(
          Array.from({ length: 64 }, (_, i) =>
            replica.write('fill', `f${i % 8}`, { kind: 'set', value: round * 64 + i }),
          ),
        );
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      // What is left is what this version writes: cells (4), and segments of ops (5) when a
      // background checkpoint's generation happened to hold mostly fresh keys (timing decides).
      const left = await formats();
      expect(left, 'segments of the earlier format left').not.toContain(format);
      expect(left.filter((found) => found !== 4 && found !== 5)).toEqual([]);
      await expectAgreement(replica, store, 'after the compaction');
      const after = replica.state.digest();
      store = await reopen(replica, store);
      replica = await openReplica(store);
      expect(replica.state.digest()).toBe(after);
    });
  }
});
