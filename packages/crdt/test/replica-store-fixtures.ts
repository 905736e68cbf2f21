/**
 * What the ReplicaStore tests share: both store backends (memory and LMDB), a random workload of
 * local writes and received ops, and an independent reading of what the store holds, to compare
 * with memory and with a replay of the log.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DriftlessError,
  decode,
  decodeOps,
  encode,
  HybridLogicalClock,
  MemoryStore,
  type Op,
  type OpLog,
  type Store,
  type Value,
  VersionVector,
} from '@driftless/core';
import { LmdbStore } from '@driftless/core/lmdb';
import type { StoreHarness } from '@driftless/core/testing';
import {
  type Intent,
  type ReadResult,
  ReplicaState,
  ReplicaStore,
  SEGMENT_TABLE,
  STATE_TABLE,
  type StoredEntry,
} from '@driftless/crdt';
import { afterAll, afterEach, describe, expect } from 'vitest';

/** ReplicaStore.admit's durability, or its refusal as a rejection. */
export function admitted(replica: ReplicaStore, ops: readonly Op[]): Promise<void> {
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
export class RemoteWriter {
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

export async function openReplica(store: Store, checkpointOps = CHECKPOINT_OPS): Promise<ReplicaStore> {
  // Segments compact often (every key rewritten, older segments deleted).
  const replica = await ReplicaStore.open({ store, nodeId: 'a', checkpointOps, compactionMinKeys: 4 });
  replica.state.setCollectionMode('votes', 'mv');
  return replica;
}

/** A fresh state that applied every op of the log, in log order. */
export async function replay(log: OpLog): Promise<ReplicaState> {
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
export async function stored(store: Store, log: OpLog): Promise<ReplicaState> {
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
export async function segmentRange(store: Store): Promise<[number, number]> {
  const bytes = await store.get('state_meta', 'segments');
  return bytes ? (decode(bytes) as [number, number]) : [0, 0];
}

/** Appends a segment to the live ones, as a checkpoint would. */
export async function appendSegment(store: Store, segment: Value): Promise<void> {
  const [first, next] = await segmentRange(store);
  await store.commit([
    { table: SEGMENT_TABLE, key: next, value: encode(segment) },
    { table: 'state_meta', key: 'segments', value: encode([first, next + 1]) },
  ]);
}

export async function count(store: Store, table: string): Promise<number> {
  let rows = 0;
  for await (const _ of store.range(table)) rows++;
  return rows;
}

/** Asserts that memory, the stored checkpoint with the log above it, and the whole log hold the same state. */
export async function expectAgreement(replica: ReplicaStore, store: Store, what: string): Promise<void> {
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
export function readsOf(state: ReplicaState): unknown {
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
export async function dump(store: Store): Promise<string[]> {
  const rows: string[] = [];
  for (const table of TABLES) {
    for await (const { key, value } of store.range(table)) {
      rows.push(`${table} ${String(key)} ${Buffer.from(value).toString('hex')}`);
    }
  }
  return rows;
}

/** Runs `batches` rounds of local writes (several in flight) and received batches from two writers. */
export async function runWorkload(
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

/** After a collection: memory equals the state table, and the log replayed then collected the same way. */
export async function expectCollectedAgreement(replica: ReplicaStore, store: Store): Promise<void> {
  const digest = replica.state.digest();
  expect((await stored(store, replica.log)).digest(), 'checkpoint + log').toBe(digest);
  const replayed = await replay(replica.log);
  replayed.collectTombstones(replica.state.collectedBelow);
  expect(replayed.digest(), 'log replay, collected').toBe(digest);
}

/** What the tests of one store backend get: fresh stores, each closed after its test. */
export interface StoresUnderTest {
  create(): Promise<Store>;
  /** Closes `replica` and `store`, then opens the store again from what it holds. */
  reopen(replica: ReplicaStore, store: Store): Promise<Store>;
}

/** Declares the tests `body` declares once per store backend, in a describe block each. */
export function describeEachStore(body: (stores: StoresUnderTest) => void): void {
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
      body({ create, reopen });
    });
  }
}
