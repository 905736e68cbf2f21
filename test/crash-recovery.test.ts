import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpLog, VersionVector } from '@driftless/core';
import { LmdbStore } from '@driftless/core/lmdb';
import { seededRandom, testSeed } from '@driftless/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnTs, watchLines } from './support/processes.js';

const RUNS = 20;
const root = mkdtempSync(join(tmpdir(), 'driftless-crash-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * A writer appends to an LMDB op log in a child process and is SIGKILLed at a random moment,
 * again and again on the same data directory. After every kill the log must reopen intact and
 * hold every op the writer had acknowledged. (SIGKILL proves recovery and atomicity; that acks
 * wait for the sync is proven separately by tracing syscalls in durability.test.ts.)
 */
describe('crash recovery of the LMDB op log', () => {
  it(`loses no acknowledged op across ${RUNS} SIGKILLs at random moments`, async () => {
    const seed = testSeed();
    const random = seededRandom(seed);
    const dir = join(root, 'log');
    const acked = new Map<string, number>();
    let totalAcks = 0;
    for (let run = 0; run < RUNS; run++) {
      const child = spawnTs('test/fixtures/log-writer.ts', [dir, 'crash', String(seed + run)]);
      const { lines, waitFor, exited } = watchLines(child);
      await waitFor((line) => line.startsWith('ack '), 30_000);
      await new Promise((resolve) => setTimeout(resolve, 20 + random() * 300));
      child.kill('SIGKILL');
      const { signal } = await exited;
      expect(signal, `seed ${seed}, run ${run}`).toBe('SIGKILL');
      for (const line of lines) {
        const [word, origin, seq] = line.split(' ');
        if (word !== 'ack' || !origin) continue;
        totalAcks++;
        acked.set(origin, Math.max(acked.get(origin) ?? 0, Number(seq)));
      }

      const store = await LmdbStore.open(dir);
      try {
        const log = await OpLog.open({ store, nodeId: 'writer' });
        const vector = log.versionVector;
        for (const [origin, seq] of acked) {
          expect(
            vector.get(origin),
            `seed ${seed}, run ${run}: acknowledged ${origin}:${seq} lost`,
          ).toBeGreaterThanOrEqual(seq);
        }
        const { ops } = await log.verify();
        expect(ops).toBe(vector.total);
        let streamed = 0;
        for await (const chunk of log.readSince(VersionVector.EMPTY)) streamed += chunk.ops.length;
        expect(streamed).toBe(vector.total);
        await log.close();
      } finally {
        await store.close();
      }
    }
    expect(totalAcks).toBeGreaterThan(RUNS);
  });
});
