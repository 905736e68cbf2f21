/**
 * OpLog.retain: a holder of the log's ops (a persistent state that replays the log above its last
 * checkpoint) keeps them from truncation, and is asked to lower its floor as each truncation begins.
 */
import { MemoryStore, OpLog, VersionVector } from '@driftless/core';
import { FaultyStore } from '@driftless/core/testing';
import { describe, expect, it } from 'vitest';

async function logWith(ops: number) {
  const store = await MemoryStore.open();
  const log = await OpLog.open({ store, nodeId: 'a' });
  for (let i = 0; i < ops; i++) await log.appendLocal([{ collection: 'c', key: `k${i}`, mutation: i }]);
  return log;
}

describe('OpLog retention', () => {
  it('never truncates past a retention floor, and truncates to the watermark once it is lifted', async () => {
    const log = await logWith(10);
    const floor = VersionVector.from({ a: 4 });
    const lift = log.retain({ floor: () => floor });
    const kept = await log.truncate(log.versionVector);
    expect(floor.dominates(kept.base)).toBe(true);
    expect(log.canServe(floor)).toBe(true);
    let streamed = 0;
    for await (const chunk of log.readSince(floor)) streamed += chunk.ops.length;
    expect(streamed).toBe(6);
    lift();
    const all = await log.truncate(log.versionVector);
    expect(all.base.toJSON()).toEqual({ a: 10 });
  });

  it('waits for prepare before it truncates, and reads the floor after it', async () => {
    const log = await logWith(6);
    let floor = VersionVector.EMPTY;
    const calls: string[] = [];
    log.retain({
      floor: () => {
        calls.push('floor');
        return floor;
      },
      prepare: async () => {
        calls.push('prepare');
        await new Promise((resolve) => setTimeout(resolve, 5));
        floor = log.versionVector;
      },
    });
    const { base } = await log.truncate(log.versionVector);
    expect(calls).toEqual(['prepare', 'floor']);
    expect(base.toJSON()).toEqual({ a: 6 });
  });

  it('a failed prepare fails the truncation, which removes nothing', async () => {
    const log = await logWith(4);
    log.retain({ floor: () => log.versionVector, prepare: () => Promise.reject(new Error('no checkpoint')) });
    await expect(log.truncate(log.versionVector)).rejects.toThrow('no checkpoint');
    expect(log.baseVector.size).toBe(0);
    expect((await log.verify()).ops).toBe(4);
  });

  it('a failed truncation commit fails the log, as a failed append does', async () => {
    const faulty = new FaultyStore(await MemoryStore.open());
    const log = await OpLog.open({ store: faulty, nodeId: 'a' });
    await log.appendLocal([{ collection: 'c', key: 'k', mutation: 1 }]);
    faulty.failNextCommits(1);
    await expect(log.truncate(log.versionVector)).rejects.toMatchObject({ code: 'STORE_WRITE_FAILED' });
    await expect(log.appendLocal([{ collection: 'c', key: 'k', mutation: 2 }])).rejects.toMatchObject({
      code: 'LOG_FAILED',
    });
  });
});
