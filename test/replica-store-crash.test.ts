import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Op, VersionVector } from '@driftless/core';
import { LmdbStore } from '@driftless/core/lmdb';
import { seededRandom, testSeed } from '@driftless/core/testing';
import { ReplicaState, ReplicaStore } from '@driftless/crdt';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnTs, watchLines } from './support/processes.js';

const RUNS = 10;
const root = mkdtempSync(join(tmpdir(), 'driftless-replica-crash-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** An acknowledged batch: its origin's ops from `first` to `last`, the last one on `lastKey`. */
interface Ack {
  readonly origin: string;
  readonly first: number;
  readonly last: number;
  readonly lastKey: string;
}

function parseAck(line: string): Ack | undefined {
  const [word, origin, first, last, lastKey] = line.split(' ');
  if (word !== 'ack' || !origin || !lastKey) return undefined;
  return { origin, first: Number(first), last: Number(last), lastKey };
}

/**
 * A writer commits batches of every type's intents through a ReplicaStore on LMDB in a child
 * process, and is SIGKILLed at a random moment, again and again on the same data directory. After
 * every kill the replica must reopen, hold every batch it acknowledged, and its state (the last
 * checkpoint plus the log above it) must equal a replay of its whole log. (SIGKILL proves recovery
 * and atomicity of log appends and checkpoints; that acks wait for the sync is proven for the log
 * in durability.test.ts.)
 */
describe('crash recovery of a ReplicaStore on LMDB', () => {
  it(`keeps every acknowledged batch, and state and log in agreement, across ${RUNS} SIGKILLs`, async () => {
    const seed = testSeed();
    const random = seededRandom(seed);
    const dir = join(root, 'replica');
    const acks: Ack[] = [];
    for (let run = 0; run < RUNS; run++) {
      const what = `seed ${seed} (rerun: DRIFTLESS_SEED=${seed}), run ${run}`;
      const child = spawnTs('test/fixtures/replica-writer.ts', [dir, String(seed + run)]);
      const { lines, waitFor, exited } = watchLines(child);
      try {
        await waitFor((line) => line.startsWith('ack '), 30_000);
        await new Promise((resolve) => setTimeout(resolve, 20 + random() * 300));
      } finally {
        child.kill('SIGKILL'); // also when the wait failed: no writer outlives the test
      }
      const { signal, stderr } = await exited;
      expect(signal, `${what}: ${stderr}`).toBe('SIGKILL');
      const fresh = lines.flatMap((line) => parseAck(line) ?? []);
      expect(fresh.length, what).toBeGreaterThan(0);
      acks.push(...fresh);

      const store = await LmdbStore.open(dir);
      try {
        const replica = await ReplicaStore.open({ store, nodeId: 'writer' });
        const vector = replica.log.versionVector;
        const logged = new Map<string, Op>();
        const replayed = new ReplicaState();
        for await (const chunk of replica.log.readSince(VersionVector.EMPTY)) {
          for (const op of chunk.ops) {
            logged.set(`${op.origin}:${op.seq}`, op);
            replayed.apply(op);
          }
        }
        for (const ack of acks) {
          const batch = `${ack.origin}:${ack.first}–${ack.last}`;
          expect(vector.get(ack.origin), `${what}: acknowledged ${batch} lost`).toBeGreaterThanOrEqual(
            ack.last,
          );
          const last = logged.get(`${ack.origin}:${ack.last}`);
          expect(`${last?.collection}/${last?.key}`, `${what}: ${batch}`).toBe(ack.lastKey);
        }
        expect(logged.size, what).toBe(vector.total);
        expect((await replica.log.verify()).ops, what).toBe(vector.total);
        expect(replica.state.versionVector.toJSON(), what).toEqual(vector.toJSON());
        expect(replica.state.digest(), `${what}: stored state vs replayed log`).toBe(replayed.digest());
        await replica.close();
      } finally {
        await store.close();
      }
    }
    expect(new Set(acks.map((ack) => ack.origin))).toEqual(new Set(['writer', 'relay']));
  });
});
