/**
 * A ReplicaStore persists its state only at checkpoints and replays the log above the last one when
 * it opens. These tests crash it between checkpoints (a store that stops committing, then a reopen
 * of what it holds), at random, and check that it reopens to the state its durable log makes.
 * Writes go to a few keys written over and over, or to fresh keys, so checkpoints store both cells
 * and segments of ops (entry-capture.ts).
 */
import {
  DriftlessError,
  decode,
  HybridLogicalClock,
  MemoryStore,
  type MemoryVolume,
  type Op,
  type OpLog,
  type RangeOptions,
  type Store,
  type StoreEntry,
  type StoreKey,
  type StoreWrite,
  VersionVector,
} from '@driftless/core';
import { propertyParameters, seededRandom } from '@driftless/core/testing';
import { type Intent, ReplicaState, ReplicaStore } from '@driftless/crdt';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

/** A store that stops committing after a set number of commits: what a crash leaves on disk. */
class CrashingStore implements Store {
  readonly kind = 'crashing';
  readonly #inner: Store;
  #commitsLeft = Number.POSITIVE_INFINITY;

  constructor(inner: Store) {
    this.#inner = inner;
  }

  /** Lets `count` more commits through; later ones never happen (and never resolve). */
  crashAfter(count: number): void {
    this.#commitsLeft = count;
  }

  commit(writes: readonly StoreWrite[]): Promise<void> {
    if (this.#commitsLeft <= 0) return new Promise(() => {});
    this.#commitsLeft--;
    return this.#inner.commit(writes);
  }

  get(table: string, key: StoreKey): Promise<Uint8Array | undefined> {
    return this.#inner.get(table, key);
  }

  range(table: string, options?: RangeOptions): AsyncIterable<StoreEntry> {
    return this.#inner.range(table, options);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'a/b', 'é'];

/** Keys handed out by keyOf, for writes to keys nothing has written before. */
let freshKeys = 0;

/** One of KEYS, or a key never written before. */
function keyOf(random: () => number, fresh: boolean): string {
  return fresh ? `fresh${freshKeys++}` : (KEYS[Math.floor(random() * KEYS.length)] as string);
}

/** Stores whose checkpoint held a segment of ops (format 5) when a run reopened them. */
let reopenedWithOps = 0;

async function holdsSegmentOfOps(volume: MemoryVolume): Promise<boolean> {
  const store = await MemoryStore.open(volume);
  const range = await store.get('state_meta', 'segments');
  const [first, next] = range ? (decode(range) as [number, number]) : [0, 0];
  for (let n = first; n < next; n++) {
    const bytes = (await store.get('state_seg', n)) as Uint8Array;
    if ((decode(bytes, { maxFrameBytes: 1 << 30, maxDepth: 64, maxItems: 1e9 }) as unknown[])[0] === 5)
      return true;
  }
  return false;
}

function randomIntent(random: () => number): Intent {
  const roll = random();
  if (roll < 0.3) return { kind: 'set', value: Math.floor(random() * 100) };
  if (roll < 0.45)
    return { kind: 'patch', patch: { [random() < 0.5 ? 'a' : 'b']: random() < 0.2 ? null : 1 } };
  if (roll < 0.65) return { kind: 'incr', delta: Math.floor(random() * 9) - 4 || 3 };
  if (roll < 0.8) return { kind: random() < 0.6 ? 'add' : 'remove', element: Math.floor(random() * 3) };
  return { kind: 'del' };
}

/** Issues a local write of a random intent on a random key, or nothing when the key holds another type. */
function writeRandom(
  replica: ReplicaStore,
  random: () => number,
  fresh = false,
): Promise<unknown> | undefined {
  const collection = random() < 0.7 ? 'docs' : 'votes';
  const key = keyOf(random, fresh);
  const intent = randomIntent(random);
  try {
    replica.state.prepare(collection, key, intent);
  } catch (error) {
    if (error instanceof DriftlessError && error.code === 'TYPE_CONFLICT') return undefined;
    throw error;
  }
  return replica.write(collection, key, intent);
}

/** A peer writing into its own state; its ops reach the replica under test through receive. */
class Peer {
  readonly state = new ReplicaState();
  readonly #clock = new HybridLogicalClock();
  readonly #ops: Op[] = [];

  /** Writes `count` ops, and returns them after every earlier one `replica` has not admitted. */
  write(random: () => number, count: number, replica: ReplicaStore, fresh = false): Op[] {
    for (let i = 0; i < count; i++) {
      const key = keyOf(random, fresh);
      let write: ReturnType<ReplicaState['prepare']>;
      try {
        write = this.state.prepare('docs', key, randomIntent(random));
      } catch {
        continue;
      }
      const op: Op = { origin: 'peer', seq: this.#ops.length + 1, hlc: this.#clock.now(), ...write };
      this.state.apply(op);
      this.#ops.push(op);
    }
    // A crash may have lost ops sent before: send them again (receiving is idempotent).
    return this.#ops.slice(replica.state.versionVector.get('peer'));
  }
}

/** A fresh state that applied every op of the log, in log order. */
async function replay(log: OpLog): Promise<ReplicaState> {
  const state = new ReplicaState();
  for await (const chunk of log.readSince(VersionVector.EMPTY)) for (const op of chunk.ops) state.apply(op);
  return state;
}

type Step =
  | { readonly kind: 'writes'; readonly count: number; readonly fresh: boolean; readonly seed: number }
  | { readonly kind: 'receive'; readonly count: number; readonly fresh: boolean; readonly seed: number }
  | { readonly kind: 'checkpoint' }
  /** Turns of the event loop: background checkpoints go on meanwhile. */
  | { readonly kind: 'idle' }
  | { readonly kind: 'reopen' }
  /** A crash with `inFlight` writes issued, of which the store commits `commits` groups at most. */
  | { readonly kind: 'crash'; readonly inFlight: number; readonly commits: number; readonly seed: number };

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('writes' as const),
      count: fc.integer({ min: 1, max: 12 }),
      fresh: fc.boolean(),
      seed: fc.integer(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('receive' as const),
      count: fc.integer({ min: 1, max: 6 }),
      fresh: fc.boolean(),
      seed: fc.integer(),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'checkpoint' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'idle' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('crash' as const),
      inFlight: fc.integer({ min: 0, max: 6 }),
      commits: fc.integer({ min: 0, max: 3 }),
      seed: fc.integer(),
    }),
  },
);

/** Runs `steps` on one replica, crashing and reopening it as they say, and checks every reopen. */
async function runSteps(
  checkpointOps: number,
  sliceKeys: number,
  compactionMinKeys: number,
  steps: readonly Step[],
): Promise<void> {
  const volume: MemoryVolume = (await MemoryStore.open()).volume;
  const peer = new Peer();
  let store = new CrashingStore(await MemoryStore.open(volume));
  let replica = await ReplicaStore.open({
    store,
    nodeId: 'a',
    checkpointOps,
    checkpointSliceKeys: sliceKeys,
    compactionMinKeys,
  });
  /** The highest seq of each origin whose write was acknowledged. */
  let acked = VersionVector.EMPTY;
  const ack = (ops: readonly Op[]) => {
    for (const op of ops) if (op.seq > acked.get(op.origin)) acked = acked.with(op.origin, op.seq);
  };
  const reopen = async (what: string, expected?: { digest: string; vector: unknown }) => {
    if (await holdsSegmentOfOps(volume)) reopenedWithOps++;
    store = new CrashingStore(await MemoryStore.open(volume));
    replica = await ReplicaStore.open({
      store,
      nodeId: 'a',
      checkpointOps,
      checkpointSliceKeys: sliceKeys,
      compactionMinKeys,
    });
    const vector = replica.log.versionVector;
    expect(vector.dominates(acked), `${what}: acknowledged writes lost`).toBe(true);
    expect(replica.state.versionVector.toJSON(), `${what}: state vs log vector`).toEqual(vector.toJSON());
    expect(replica.state.digest(), `${what}: reopened vs a replay of the whole log`).toBe(
      (await replay(replica.log)).digest(),
    );
    if (expected) {
      expect(vector.toJSON(), `${what}: vector`).toEqual(expected.vector);
      expect(replica.state.digest(), `${what}: digest`).toBe(expected.digest);
    }
  };
  for (const [index, step] of steps.entries()) {
    const random = seededRandom('seed' in step ? step.seed : index);
    const what = `step ${index} (${step.kind})`;
    switch (step.kind) {
      case 'writes': {
        const writes = Array.from({ length: step.count }, () => writeRandom(replica, random, step.fresh));
        for (const result of await Promise.all(writes)) if (result) ack([(result as { op: Op }).op]);
        break;
      }
      case 'receive': {
        const ops = peer.write(random, step.count, replica, step.fresh);
        await replica.receive(ops);
        ack(ops);
        break;
      }
      case 'checkpoint':
        await replica.checkpoint();
        break;
      case 'idle':
        await new Promise((resolve) => setTimeout(resolve, 2));
        break;
      case 'reopen': {
        const before = { digest: replica.state.digest(), vector: replica.log.versionVector.toJSON() };
        await replica.close();
        await reopen(what, before);
        break;
      }
      case 'crash': {
        // Everything issued so far is acknowledged: a crash now must reopen to exactly this state.
        const quiet = { digest: replica.state.digest(), vector: replica.log.versionVector.toJSON() };
        store.crashAfter(step.commits);
        for (let i = 0; i < step.inFlight; i++) {
          if (random() < 0.3)
            void replica.receive(peer.write(random, 2, replica)).then(
              (changes) => ack(changes.map((change) => change.op)),
              () => {},
            );
          else
            void writeRandom(replica, random)?.then(
              (result) => ack([(result as { op: Op }).op]),
              () => {},
            );
        }
        // Let the commits the store still allows happen (each waits on the one before), background
        // checkpoints included, then end the process: nothing it does later reaches the store.
        for (let i = 0; i < 3; i++) await new Promise((resolve) => setTimeout(resolve, 2));
        store.crashAfter(0);
        await reopen(what, step.inFlight === 0 ? quiet : undefined);
        break;
      }
    }
  }
}

describe('ReplicaStore checkpoints', () => {
  const parameters = propertyParameters(120);
  it(`reopens after crashes between checkpoints to the state of its durable log (fast-check seed ${parameters.seed})`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 4 }),
        // Small: segments compact often (every key rewritten, older segments deleted).
        fc.integer({ min: 1, max: 8 }),
        fc.array(stepArbitrary, { minLength: 4, maxLength: 40 }),
        (checkpointOps, sliceKeys, compactionMinKeys, steps) =>
          runSteps(checkpointOps, sliceKeys, compactionMinKeys, steps),
      ),
      parameters,
    );
    expect(reopenedWithOps, 'runs reopened a store holding segments of ops').toBeGreaterThan(0);
  }, 120_000);
});
