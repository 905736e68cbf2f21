/**
 * ReplicaStore over every store backend (memory and LMDB): its log and its state table commit
 * together, so after every commit, every failed commit and every reopen, the in-memory state, the
 * stored state and a replay of the log are the same state.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DriftlessError,
  decode,
  decodeOps,
  encode,
  encodeOps,
  HybridLogicalClock,
  MemoryStore,
  type Op,
  type OpLog,
  StorageError,
  type Store,
  type StoreWrite,
  type Value,
  VersionVector,
} from '@driftless/core';
import { LmdbStore } from '@driftless/core/lmdb';
import { FaultyStore, type StoreHarness, seededRandom, testSeed } from '@driftless/core/testing';
import {
  type Intent,
  type ReadResult,
  ReplicaState,
  ReplicaStore,
  SEGMENT_TABLE,
  STATE_TABLE,
  type StoredEntry,
} from '@driftless/crdt';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

/** ReplicaStore.admit's durability, or its refusal as a rejection. */
function admitted(replica: ReplicaStore, ops: readonly Op[]): Promise<void> {
  try {
    return replica.admit(ops).durable;
  } catch (error) {
    return Promise.reject(error);
  }
}

const root = mkdtempSync(join(tmpdir(), 'driftless-replica-store-'));
let nextDir = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

const HARNESSES: readonly (StoreHarness & { readonly name: string })[] = [
  {
    name: 'MemoryStore',
    create: () => MemoryStore.open(),
    async reopen(store) {
      await store.close();
      return MemoryStore.open((store as MemoryStore).volume);
    },
  },
  {
    name: 'LmdbStore',
    create: () => LmdbStore.open(join(root, `store-${nextDir++}`)),
    async reopen(store) {
      await store.close();
      return LmdbStore.open((store as LmdbStore).path);
    },
  },
];

/** Every table a replica store writes: the log's three and the state's two. */
const TABLES = ['log', 'log_index', 'meta', STATE_TABLE, SEGMENT_TABLE, 'state_meta'];
/** 'votes' is in multi-value mode; keys include a slash, and characters whose UTF-8 and UTF-16 orders differ. */
const COLLECTIONS = ['docs', 'votes'];
const KEYS = ['k0', 'k1', 'k2', 'k3', 'a/b', 'é', '\uff01', '\u{1f600}'];
const ELEMENTS: Value[] = ['x', 'y', 1, { o: 1 }];

/** A random intent of any type; mostly on few keys, so types and writes conflict. */
function randomIntent(random: () => number): Intent {
  const roll = random();
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)] as T;
  if (roll < 0.25)
    return { kind: 'set', value: random() < 0.8 ? Math.floor(random() * 100) : { n: [1, 'a'] } };
  if (roll < 0.4)
    return { kind: 'patch', patch: { [pick(['a', 'b'])]: random() < 0.2 ? null : pick([1, 'v']) } };
  if (roll < 0.55) return { kind: 'incr', delta: Math.floor(random() * 9) - 4 || 7 };
  if (roll < 0.7) return { kind: 'add', element: pick(ELEMENTS) };
  if (roll < 0.8) return { kind: 'remove', element: pick(ELEMENTS) };
  return { kind: 'del' };
}

/** Another replica writing concurrently, in memory: its ops reach the store under test through receive. */
class RemoteWriter {
  readonly state = new ReplicaState();
  readonly #clock = new HybridLogicalClock();
  #seq = 0;

  constructor(readonly origin: string) {
    this.state.setCollectionMode('votes', 'mv');
  }

  /** `count` ops of random intents (fewer when an intent meets a key of another type). */
  write(random: () => number, count: number): Op[] {
    const ops: Op[] = [];
    for (let i = 0; i < count; i++) {
      const collection = COLLECTIONS[Math.floor(random() * COLLECTIONS.length)] as string;
      const key = KEYS[Math.floor(random() * KEYS.length)] as string;
      const write = prepared(this.state, collection, key, randomIntent(random));
      if (!write) continue;
      const op: Op = { origin: this.origin, seq: ++this.#seq, hlc: this.#clock.now(), ...write };
      this.state.apply(op);
      ops.push(op);
    }
    return ops;
  }
}

/** The write for `intent`, or undefined when the key holds another type. */
function prepared(state: ReplicaState, collection: string, key: string, intent: Intent) {
  try {
    return state.prepare(collection, key, intent);
  } catch (error) {
    if (error instanceof DriftlessError && error.code === 'TYPE_CONFLICT') return undefined;
    throw error;
  }
}

/** Writes a random intent at `replica`, skipping type conflicts. */
async function writeRandom(replica: ReplicaStore, random: () => number): Promise<void> {
  const collection = COLLECTIONS[Math.floor(random() * COLLECTIONS.length)] as string;
  const key = KEYS[Math.floor(random() * KEYS.length)] as string;
  const intent = randomIntent(random);
  if (!prepared(replica.state, collection, key, intent)) return;
  await replica.write(collection, key, intent);
}

/** Checkpoints every few ops, so the workloads cross many of them (the default waits thousands). */
const CHECKPOINT_OPS = 5;

async function openReplica(store: Store, checkpointOps = CHECKPOINT_OPS): Promise<ReplicaStore> {
  // Segments compact often (every key rewritten, older segments deleted).
  const replica = await ReplicaStore.open({ store, nodeId: 'a', checkpointOps, compactionMinKeys: 4 });
  replica.state.setCollectionMode('votes', 'mv');
  return replica;
}

/** A fresh state that applied every op of the log, in log order. */
async function replay(log: OpLog): Promise<ReplicaState> {
  const state = new ReplicaState();
  for await (const chunk of log.readSince(VersionVector.EMPTY)) for (const op of chunk.ops) state.apply(op);
  return state;
}

/**
 * The state as the store holds it, rebuilt here independently of ReplicaStore: the entries of its
 * checkpoint (rows of the per-key table older stores wrote, then the live segments in order, a later
 * entry replacing an earlier one, null deleting it) at its checkpoint vector, with the ops of its
 * segments of ops (format 5: [5, from, to, entry, …], each op above `from` up to `to` of the log
 * entries) applied to the keys no later entry replaces, then the log's ops above that vector, in
 * log order.
 */
async function stored(store: Store, log: OpLog): Promise<ReplicaState> {
  const entries = new Map<string, StoredEntry>();
  const opsOf = new Map<string, Op[]>();
  for await (const { key, value } of store.range(STATE_TABLE)) {
    const text = String(key);
    const slash = text.indexOf('/');
    entries.set(text, { collection: text.slice(0, slash), key: text.slice(slash + 1), bytes: value });
  }
  const [first, next] = await segmentRange(store);
  for (let n = first; n < next; n++) {
    const segment = decode((await store.get(SEGMENT_TABLE, n)) as Uint8Array, {
      maxFrameBytes: 1 << 30,
      maxDepth: 64,
      maxItems: 1e9,
    }) as Value[];
    // Formats 1 (entries as their encoded bytes) and 2 (entries inline) only where a test wrote
    // them as an earlier version would.
    expect([1, 2, 3, 4, 5]).toContain(segment[0]);
    if (segment[0] === 5) {
      const [from, to] = [1, 2].map((at) => VersionVector.fromValue(segment[at] as Value)) as [
        VersionVector,
        VersionVector,
      ];
      for (const bytes of segment.slice(3) as Uint8Array[]) {
        for (const op of decodeOps(bytes, { maxFrameBytes: 1 << 30, maxDepth: 64, maxItems: 1e9 })) {
          if (from.includes(op.origin, op.seq) || !to.includes(op.origin, op.seq)) continue;
          const id = `${op.collection}/${op.key}`;
          opsOf.set(id, [...(opsOf.get(id) ?? []), op]);
        }
      }
      continue;
    }
    for (const [collection, key, entry] of segmentCells(segment)) {
      opsOf.delete(`${collection}/${key}`);
      if (entry === null) entries.delete(`${collection}/${key}`);
      else if (entry instanceof Uint8Array)
        entries.set(`${collection}/${key}`, { collection, key, bytes: entry });
      else entries.set(`${collection}/${key}`, { collection, key, value: entry });
    }
  }
  const vectorAt = async (key: string) => {
    const bytes = await store.get('state_meta', key);
    return bytes ? VersionVector.fromValue(decode(bytes)) : VersionVector.EMPTY;
  };
  const checkpoint = await vectorAt('checkpoint');
  const state = ReplicaState.load(checkpoint, await vectorAt('collected'), entries.values());
  for (const op of [...opsOf.values()].flat()) {
    expect(checkpoint.includes(op.origin, op.seq), 'a segment of ops holds only ops of the checkpoint').toBe(
      true,
    );
    state.replayCounted(op);
  }
  for await (const chunk of log.readSince(checkpoint)) for (const op of chunk.ops) state.apply(op);
  return state;
}

/**
 * A segment's keys as [collection, key, entry | null] (an entry inline, or as its bytes in format 1).
 * Formats 3 and 4 are [format, collections, origins, (4: keys, strings,) cell…], a cell being 0
 * (nothing), 1 (an entry), 2 (a register's stamp and value) or 3 (format 4: the same with the value
 * in `strings`) with its collection's index and key; in format 4 a key is its length in `keys` and
 * a stamp's timestamp a delta from the previous register's; docs/CORE.md › Checkpoints.
 */
function segmentCells(segment: Value[]): [string, string, Value][] {
  const format = segment[0];
  if (format !== 3 && format !== 4) {
    const cells: [string, string, Value][] = [];
    for (let i = 1; i < segment.length; i += 3)
      cells.push(segment.slice(i, i + 3) as [string, string, Value]);
    return cells;
  }
  const [, collections, origins] = segment as [number, string[], string[]];
  const [keys, strings] = format === 4 ? (segment.slice(3, 5) as [string, string]) : ['', ''];
  const text = { keys: 0, strings: 0, hlc: 0 };
  const cells: [string, string, Value][] = [];
  for (let i = format === 4 ? 5 : 3; i < segment.length; ) {
    const [tag, c] = segment.slice(i, i + 2) as [number, number];
    let key = segment[i + 2] as string;
    if (format === 4) {
      const length = segment[i + 2] as number;
      key = keys.slice(text.keys, text.keys + length);
      text.keys += length;
    }
    const collection = collections[c] as string;
    if (tag === 0) {
      cells.push([collection, key, null]);
      i += 3;
    } else if (tag === 1) {
      cells.push([collection, key, segment[i + 3] as Value]);
      i += 4;
    } else {
      expect([2, 3]).toContain(tag);
      let [hlc, o, seq, value] = segment.slice(i + 3, i + 7) as [number, number, number, Value];
      if (format === 4) {
        text.hlc += hlc;
        hlc = text.hlc;
      }
      if (tag === 3) {
        value = strings.slice(text.strings, text.strings + (value as number));
        text.strings += (value as string).length;
      }
      const stamp = [hlc, origins[o] as string, seq];
      cells.push([collection, key, [0, stamp, [], [...stamp, value]]]);
      i += 7;
    }
  }
  expect([text.keys, text.strings]).toEqual([keys.length, strings.length]);
  return cells;
}

/** The live checkpoint segments, first … next - 1. */
async function segmentRange(store: Store): Promise<[number, number]> {
  const bytes = await store.get('state_meta', 'segments');
  return bytes ? (decode(bytes) as [number, number]) : [0, 0];
}

/** Appends a segment to the live ones, as a checkpoint would. */
async function appendSegment(store: Store, segment: Value): Promise<void> {
  const [first, next] = await segmentRange(store);
  await store.commit([
    { table: SEGMENT_TABLE, key: next, value: encode(segment) },
    { table: 'state_meta', key: 'segments', value: encode([first, next + 1]) },
  ]);
}

async function count(store: Store, table: string): Promise<number> {
  let rows = 0;
  for await (const _ of store.range(table)) rows++;
  return rows;
}

/** Asserts that memory, the stored checkpoint with the log above it, and the whole log hold the same state. */
async function expectAgreement(replica: ReplicaStore, store: Store, what: string): Promise<void> {
  const digest = replica.state.digest();
  expect(replica.state.versionVector.toJSON(), `${what}: state vs log vector`).toEqual(
    replica.log.versionVector.toJSON(),
  );
  const [first, next] = await segmentRange(store);
  expect(await count(store, SEGMENT_TABLE), `${what}: stored segments are the live ones`).toBe(next - first);
  const durable = await stored(store, replica.log);
  expect(durable.versionVector.toJSON(), `${what}: checkpoint + log vector`).toEqual(
    replica.log.versionVector.toJSON(),
  );
  expect(durable.digest(), `${what}: checkpoint + log`).toBe(digest);
  expect((await replay(replica.log)).digest(), `${what}: log replay`).toBe(digest);
}

/** Everything a reader can see: every key of every collection through get, and list pages of 3. */
function readsOf(state: ReplicaState): unknown {
  const reads: Record<string, unknown> = {};
  for (const collection of COLLECTIONS) {
    const listed: string[] = [];
    let cursor: string | undefined;
    do {
      const page = state.list(collection, { limit: 3, ...(cursor === undefined ? {} : { cursor }) });
      listed.push(...page.items.map((item) => item.key));
      cursor = page.cursor;
    } while (cursor !== undefined);
    const values: Record<string, ReadResult | undefined> = {};
    for (const key of KEYS) values[key] = state.get(collection, key);
    reads[collection] = { listed, values };
  }
  return reads;
}

/** Every table's contents as text: what must not change when an open fails. */
async function dump(store: Store): Promise<string[]> {
  const rows: string[] = [];
  for (const table of TABLES) {
    for await (const { key, value } of store.range(table)) {
      rows.push(`${table} ${String(key)} ${Buffer.from(value).toString('hex')}`);
    }
  }
  return rows;
}

/** Runs `batches` rounds of local writes (several in flight) and received batches from two writers. */
async function runWorkload(
  replica: ReplicaStore,
  store: Store,
  random: () => number,
  batches: number,
  remotes = [new RemoteWriter('b'), new RemoteWriter('c')],
): Promise<void> {
  for (let batch = 0; batch < batches; batch++) {
    if (random() < 0.4) {
      const remote = remotes[Math.floor(random() * remotes.length)] as RemoteWriter;
      await replica.receive(remote.write(random, 1 + Math.floor(random() * 6)));
    } else {
      const inFlight = 1 + Math.floor(random() * 4);
      await Promise.all(Array.from({ length: inFlight }, () => writeRandom(replica, random)));
    }
    // Whole checkpoints now and then (background ones wait for turns of the event loop), which
    // compact the segments when due.
    if (random() < 0.3) await replica.checkpoint();
    await expectAgreement(replica, store, `batch ${batch}`);
  }
}

for (const harness of HARNESSES) {
  describe(`ReplicaStore over ${harness.name}`, () => {
    const open: Store[] = [];
    const create = async () => {
      const store = await harness.create();
      open.push(store);
      return store;
    };
    const reopen = async (replica: ReplicaStore, store: Store) => {
      await replica.close();
      const again = await harness.reopen(store);
      open.push(again);
      return again;
    };
    afterEach(async () => {
      for (const store of open.splice(0)) await store.close().catch(() => undefined);
    });

    it('keeps memory, the state table and the log in agreement after every commit', async () => {
      const seed = testSeed();
      const store = await create();
      const replica = await openReplica(store);
      await runWorkload(replica, store, seededRandom(seed), 60).catch((error) => {
        throw new Error(`seed ${seed} (rerun: DRIFTLESS_SEED=${seed}): ${error.message}`, { cause: error });
      });
      expect(replica.log.versionVector.get('a'), `seed ${seed}`).toBeGreaterThan(10);
      expect(replica.log.versionVector.size, `seed ${seed}`).toBe(3);
    });

    it('returns what each write and received op changed', async () => {
      const replica = await openReplica(await create());
      const { op, change } = await replica.write('docs', 'k', { kind: 'incr', delta: 2 });
      expect(op).toMatchObject({ origin: 'a', seq: 1, collection: 'docs', key: 'k' });
      expect(change).toMatchObject({ kind: 'incr', changed: true });
      const remote = new RemoteWriter('b');
      const write = remote.state.prepare('docs', 'k', { kind: 'incr', delta: 3 });
      const ops: Op[] = [{ origin: 'b', seq: 1, hlc: new HybridLogicalClock().now(), ...write }];
      expect((await replica.receive(ops)).map((c) => c.kind)).toEqual(['incr']);
      expect(await replica.receive(ops)).toEqual([]);
      expect(replica.state.get('docs', 'k')).toEqual({ type: 'counter', value: 5 });
    });

    it('restores the same digest, version vector, reads and list order on reopen', async () => {
      const seed = testSeed();
      const random = seededRandom(seed);
      let store = await create();
      let replica = await openReplica(store);
      const remotes = [new RemoteWriter('b'), new RemoteWriter('c')];
      for (let round = 0; round < 3; round++) {
        await runWorkload(replica, store, random, 15, remotes);
        const before = {
          digest: replica.state.digest(),
          vector: replica.state.versionVector.toJSON(),
          reads: readsOf(replica.state),
        };
        store = await reopen(replica, store);
        replica = await openReplica(store);
        const after = {
          digest: replica.state.digest(),
          vector: replica.state.versionVector.toJSON(),
          reads: readsOf(replica.state),
        };
        expect(after, `seed ${seed}, round ${round}`).toEqual(before);
        await expectAgreement(replica, store, `seed ${seed}, reopened ${round}`);
      }
      // Listing is in UTF-8 order after a reopen too: U+FF01 before U+1F600 (in UTF-16 it is after).
      for (const key of ['\u{1f600}', 'z', '\uff01', 'a/b'])
        await replica.write('order', key, { kind: 'set', value: key });
      store = await reopen(replica, store);
      replica = await openReplica(store);
      expect(replica.state.list('order').items.map((item) => item.key)).toEqual([
        'a/b',
        'z',
        '\uff01',
        '\u{1f600}',
      ]);
    });

    it('a failed commit changes neither the log nor the state, in memory or stored, and says so with a typed error', async () => {
      const seed = testSeed();
      const random = seededRandom(seed);
      const inner = await create();
      const faulty = new FaultyStore(inner);
      const replica = await openReplica(faulty);
      const remote = new RemoteWriter('b');
      await runWorkload(replica, faulty, random, 10, [remote]);
      await replica.write('docs', 'fail-reg', { kind: 'set', value: 'durable' });
      await replica.write('votes', 'fail-set', { kind: 'add', element: 'durable' });
      // Settles the background checkpoint the writes above may have begun: committed after `rows`
      // below, it would change the store (with durable state only) and fail the comparison.
      await replica.checkpoint();
      const before = {
        digest: replica.state.digest(),
        vector: replica.state.versionVector.toJSON(),
        reads: readsOf(replica.state),
      };
      const rows = await dump(inner);

      faulty.failNextCommits(1);
      // Writes admitted together (one group commit) and while that commit is in flight.
      const attempts: Promise<unknown>[] = [];
      for (let i = 0; i < 6; i++) {
        attempts.push(replica.write('docs', 'fail-reg', { kind: 'set', value: i }));
        const ops = remote.write(random, 3);
        // receive, or admit (receive split: applied now, durable later), as a session receives.
        if (ops.length > 0) attempts.push(i % 2 === 0 ? replica.receive(ops) : admitted(replica, ops));
        attempts.push(replica.write('votes', 'fail-set', { kind: 'add', element: i }));
        attempts.push(replica.write('docs', `fail-new-${i}`, { kind: 'incr', delta: 1 }));
        await null;
      }
      const outcomes = await Promise.allSettled(attempts);
      const errors = outcomes.map((outcome) => (outcome.status === 'rejected' ? outcome.reason : undefined));
      expect(errors.every((error) => error instanceof DriftlessError)).toBe(true);
      expect(errors[0]).toBeInstanceOf(StorageError);
      expect(errors[0]).toMatchObject({ code: 'STORE_WRITE_FAILED' });
      for (const error of errors)
        expect(['STORE_WRITE_FAILED', 'LOG_FAILED']).toContain((error as DriftlessError).code);

      const now = () => ({
        digest: replica.state.digest(),
        vector: replica.state.versionVector.toJSON(),
        reads: readsOf(replica.state),
      });
      expect(now(), `seed ${seed}: memory after the failure`).toEqual(before);
      expect(replica.log.versionVector.toJSON()).toEqual(before.vector);
      expect(await dump(inner), `seed ${seed}: store after the failure`).toEqual(rows);
      await expectAgreement(replica, inner, `seed ${seed}, after the failure`);

      // The replica refuses writes until reopened, and refusing changes nothing either.
      await expect(replica.write('docs', 'refused', { kind: 'set', value: 1 })).rejects.toMatchObject({
        code: 'LOG_FAILED',
      });
      await expect(replica.receive(remote.write(() => 0, 1))).rejects.toMatchObject({ code: 'LOG_FAILED' });
      expect(() => replica.admit(remote.write(() => 0, 1))).toThrow(
        expect.objectContaining({ code: 'LOG_FAILED' }),
      );
      await expect(replica.collectTombstones(replica.state.versionVector)).rejects.toMatchObject({
        code: 'LOG_FAILED',
      });
      expect(now()).toEqual(before);

      const store = await reopen(replica, inner);
      const again = await openReplica(store);
      expect(again.state.digest()).toBe(before.digest);
      expect(readsOf(again.state)).toEqual(before.reads);
      await again.write('docs', 'refused', { kind: 'set', value: 'after' });
      await expectAgreement(again, store, `seed ${seed}, reopened`);
    });

    it('a failed tombstone collection drops nothing, in memory or stored', async () => {
      const inner = await create();
      const faulty = new FaultyStore(inner);
      const replica = await openReplica(faulty);
      await replica.write('docs', 'gone', { kind: 'set', value: 1 });
      await replica.write('docs', 'gone', { kind: 'del' });
      await replica.write('docs', 'kept', { kind: 'set', value: 2 });
      const digest = replica.state.digest();
      const rows = await dump(inner);
      faulty.failNextCommits(1);
      await expect(replica.collectTombstones(replica.state.versionVector)).rejects.toMatchObject({
        code: 'STORE_WRITE_FAILED',
      });
      expect(replica.state.digest()).toBe(digest);
      expect(replica.state.collectedBelow.size).toBe(0);
      expect(replica.state.encodedEntry('docs', 'gone')).toBeDefined();
      expect(await dump(inner)).toEqual(rows);
    });

    it('persists tombstone collection: collected keys stay gone and collectedBelow survives a reopen', async () => {
      let store = await create();
      let replica = await openReplica(store);
      const remote = new RemoteWriter('b');
      for (const key of ['k0', 'k1', 'k2']) await replica.write('docs', key, { kind: 'set', value: key });
      await replica.write('votes', 'v', { kind: 'set', value: 1 });
      await replica.write('docs', 'n', { kind: 'incr', delta: 4 });
      await replica.receive(remote.write(() => 0, 1)); // b sets one key
      await replica.write('docs', 'k0', { kind: 'del' });
      await replica.write('docs', 'k1', { kind: 'del' });
      await replica.write('votes', 'v', { kind: 'del' });
      await replica.write('docs', 'n', { kind: 'del' });
      const stable = replica.state.versionVector;
      await replica.write('docs', 'k2', { kind: 'del' }); // after `stable`: must stay
      expect(await replica.collectTombstones(stable)).toBe(3);
      const gone = [
        ['docs', 'k0'],
        ['docs', 'k1'],
        ['votes', 'v'],
      ];
      const expectCollected = (state: ReplicaState) => {
        for (const [collection, key] of gone)
          expect(state.encodedEntry(collection as string, key as string)).toBeUndefined();
        expect(state.encodedEntry('docs', 'k2')).toBeDefined();
        // A deleted counter keeps its totals (a later delete carries absolute ones), compacted.
        expect(state.encodedEntry('docs', 'n')).toBeDefined();
        expect(state.get('docs', 'n')).toBeUndefined();
        expect(state.collectedBelow.toJSON()).toEqual(stable.toJSON());
      };
      expectCollected(replica.state);
      const digest = replica.state.digest();
      for (const [collection, key] of gone)
        expect(await store.get(STATE_TABLE, `${collection}/${key}`)).toBeUndefined();

      store = await reopen(replica, store);
      replica = await openReplica(store);
      expectCollected(replica.state);
      expect(replica.state.digest()).toBe(digest);
      // The log still holds the history; replaying it and collecting below the same vector agrees.
      const replayed = await replay(replica.log);
      replayed.collectTombstones(stable);
      expect(replayed.digest()).toBe(digest);
      // Collecting again below the same vector changes nothing, and a later write recreates a key.
      expect(await replica.collectTombstones(stable)).toBe(0);
      await replica.write('docs', 'k0', { kind: 'set', value: 'back' });
      expect(replica.state.get('docs', 'k0')).toEqual({ type: 'register', value: 'back' });
      store = await reopen(replica, store);
      replica = await openReplica(store);
      expect(replica.state.get('docs', 'k0')).toEqual({ type: 'register', value: 'back' });
      expect(replica.state.collectedBelow.toJSON()).toEqual(stable.toJSON());
    });

    it('a collection racing an append of the same key stores what memory holds', async () => {
      let store = await create();
      let replica = await openReplica(store);
      const remote = new RemoteWriter('b');
      const clock = new HybridLogicalClock();
      const op = (seq: number, intent: Intent): Op => ({
        origin: 'b',
        seq,
        hlc: clock.now(),
        ...remote.state.prepare('docs', 'k', intent),
      });
      const set = op(1, { kind: 'set', value: 1 });
      remote.state.apply(set);
      await replica.write('docs', 'other', { kind: 'set', value: 0 }); // keeps a commit in flight below
      await replica.receive([set]);
      const del = op(2, { kind: 'del' });
      // The delete is admitted (and applied in memory) while an earlier commit is still in flight;
      // the collection, called right after, drops the key: the store must end up without it too.
      const inFlight = replica.write('docs', 'other', { kind: 'set', value: 1 });
      const received = replica.receive([del]);
      const collected = replica.collectTombstones(replica.state.versionVector);
      await Promise.all([inFlight, received, collected]);
      expect(await collected).toBe(1);
      expect(replica.state.encodedEntry('docs', 'k')).toBeUndefined();
      await expectCollectedAgreement(replica, store);
      const digest = replica.state.digest();
      store = await reopen(replica, store);
      replica = await openReplica(store);
      expect(replica.state.digest()).toBe(digest);
      expect(replica.state.encodedEntry('docs', 'k')).toBeUndefined();
    });

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
          damage: (store) =>
            store.commit([{ table: STATE_TABLE, key: 'nocollection', value: encode(entry) }]),
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
              (
                decode(value, { maxFrameBytes: 1 << 30, maxDepth: 64, maxItems: 1e9 }) as number[]
              )[0] as number,
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
        expect(await formats()).toEqual([4]);
        await expectAgreement(replica, store, 'after the compaction');
        const after = replica.state.digest();
        store = await reopen(replica, store);
        replica = await openReplica(store);
        expect(replica.state.digest()).toBe(after);
      });
    }
  });
}

/** After a collection: memory equals the state table, and the log replayed then collected the same way. */
async function expectCollectedAgreement(replica: ReplicaStore, store: Store): Promise<void> {
  const digest = replica.state.digest();
  expect((await stored(store, replica.log)).digest(), 'checkpoint + log').toBe(digest);
  const replayed = await replay(replica.log);
  replayed.collectTombstones(replica.state.collectedBelow);
  expect(replayed.digest(), 'log replay, collected').toBe(digest);
}

describe('installing a state moves the clock past it', () => {
  it('a write after installing a state from a peer whose clock runs ahead still wins', async () => {
    const wall = 1_800_000_000_000;
    const ahead = await ReplicaStore.open({
      store: await MemoryStore.open(),
      nodeId: 'ahead',
      clock: { now: () => wall + 30_000 },
    });
    const behind = await ReplicaStore.open({
      store: await MemoryStore.open(),
      nodeId: 'behind',
      clock: { now: () => wall },
    });
    await ahead.write('c', 'k', { kind: 'set', value: 'old' });
    await behind.installState(ahead.state.snapshot());
    const { op } = await behind.write('c', 'k', { kind: 'set', value: 'new' });
    expect(behind.state.get('c', 'k')?.value).toBe('new');
    // Ordered after the installed write, so every replica picks it too.
    await ahead.receive([op]);
    expect(ahead.state.get('c', 'k')?.value).toBe('new');
    // A state more than the skew limit ahead is refused, changing nothing.
    const far = await ReplicaStore.open({
      store: await MemoryStore.open(),
      nodeId: 'far',
      clock: { now: () => wall + 3_600_000 },
    });
    await far.write('c', 'x', { kind: 'set', value: 1 });
    await expect(behind.installState(far.state.snapshot())).rejects.toMatchObject({ code: 'CLOCK_SKEW' });
    expect(behind.state.get('c', 'x')).toBeUndefined();
    for (const replica of [ahead, behind, far]) await replica.close();
  });
});

describe('installing a state tells the log the last op of each origin its stamps show', () => {
  it('takes the highest seq among the latest writes and deletes, within the state vector', async () => {
    const source = await ReplicaStore.open({ store: await MemoryStore.open(), nodeId: 'w' });
    await source.write('c', 'a', { kind: 'set', value: 1 }); // w:1, overwritten by w:3
    await source.write('c', 'b', { kind: 'set', value: 2 }); // w:2
    await source.write('c', 'a', { kind: 'set', value: 3 }); // w:3
    const deleted = await source.write('c', 'b', { kind: 'del' }); // w:4, a delete's stamp
    const target = await ReplicaStore.open({ store: await MemoryStore.open(), nodeId: 't' });
    await target.installState(source.state.snapshot());
    expect(target.log.tipOf('w')).toEqual({ seq: 4, hlc: deleted.op.hlc });

    // A state whose stamps claim ops beyond its own vector (only a forged one does) shows none.
    const snapshot = decode(source.state.snapshot()) as Value[];
    snapshot[1] = VersionVector.from({ w: 1 }).toValue();
    const other = await ReplicaStore.open({ store: await MemoryStore.open(), nodeId: 'o' });
    await other.installState(encode(snapshot));
    expect(other.log.tipOf('w'), 'every stamp of w is beyond w:1').toBeUndefined();
    for (const replica of [source, target, other]) await replica.close();
  });
});
