import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DriftlessError, MemoryStore } from '@driftless/core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RETENTION, LogRetention } from '../src/log-retention.js';
import { call, connected, onCleanup, SECRET, startNode, until } from './node-harness.js';

const auth = { authorization: `Bearer ${SECRET}` };
/** Checks only when the test asks, and keeps nothing for feeds: each test sets what it needs. */
const manual = { keepMs: 0, checkIntervalMs: 0 };

async function writeMany(node: { url: string }, prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    expect((await call(node, 'PUT', `/v1/c/kv/${prefix}${i}`, i)).status).toBe(200);
  }
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'driftless-retention-'));
  onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('log retention', () => {
  it('deletes what every peer holds durably, and keeps what a disconnected peer still lacks', async () => {
    const a = await startNode('a', { retention: manual });
    const b = await startNode('b', { peers: [a.url], retention: manual });
    await connected(a, b);
    await writeMany(a, 'k', 30);
    await until(() => a.status().peers[0]?.opsNotDurable === 0, 'b holds every op');
    expect((await a.retention.check()).removedEntries).toBeGreaterThan(0);
    expect(a.status().log).toMatchObject({
      retainedOps: 0,
      base: { a: 30 },
      slots: [{ node: 'b', opsBehind: 0 }],
    });

    await b.close();
    await writeMany(a, 'late', 5);
    await a.retention.check();
    // b's slot holds the five it has not seen.
    expect(a.status().log).toMatchObject({
      retainedOps: 5,
      base: { a: 30 },
      slots: [{ node: 'b', opsBehind: 5 }],
    });
  });

  it('persists slots: after a restart a peer that is away still holds the log', async () => {
    const dataDir = tempDir();
    const first = await startNode('a', { dataDir, retention: manual });
    const b = await startNode('b', { peers: [first.url], retention: manual });
    await connected(first, b);
    await writeMany(first, 'k', 3);
    await until(() => first.status().peers[0]?.opsNotDurable === 0, 'b holds every op');
    await first.retention.check();
    await b.close();
    await first.close();

    const again = await startNode('a', { dataDir, retention: manual });
    await writeMany(again, 'after', 4);
    await again.retention.check();
    expect(again.status().log).toMatchObject({ retainedOps: 4, slots: [{ node: 'b', opsBehind: 4 }] });
  });

  it('a configured peer never reached holds the whole log', async () => {
    const a = await startNode('a', { peers: ['ws://127.0.0.1:9/v1/peers'], retention: manual });
    await writeMany(a, 'k', 3);
    await a.retention.check();
    expect(a.status().log).toMatchObject({
      retainedOps: 3,
      slots: [],
      unreached: ['ws://127.0.0.1:9/v1/peers'],
    });
  });

  it('keeps entries for keepMs, and deletes them after maxAgeMs whatever the slots say', async () => {
    const a = await startNode('a', { retention: manual });
    const b = await startNode('b', { peers: [a.url], retention: manual });
    await connected(a, b);
    await b.close();
    let now = 1_000_000;
    const retention = await LogRetention.open(await MemoryStore.open(), a.replica, a.replicator, {
      keepMs: 1_000,
      maxAgeMs: 60_000,
      checkIntervalMs: 0,
      configuredPeers: [],
      now: () => now,
    });
    await writeMany(a, 'k', 6);
    await retention.check();
    now += 30_000;
    // Past the keep window, but b (a slot with nothing) still needs them.
    await retention.check();
    expect(retention.status()).toMatchObject({ retainedOps: 6, slots: [{ node: 'b', opsBehind: 6 }] });
    now += 40_000;
    // Written before the sample taken 70 s ago: older than maxAgeMs.
    expect((await retention.check()).removedEntries).toBeGreaterThan(0);
    expect(retention.status()).toMatchObject({ retainedOps: 0, base: { a: 6 } });
  });

  it('a peer behind the retained log is bootstrapped from a snapshot and converges', async () => {
    const a = await startNode('a', { retention: manual });
    const dataDir = tempDir();
    const b = await startNode('b', { dataDir, peers: [a.url], retention: manual });
    await connected(a, b);
    await writeMany(a, 'early', 3);
    await until(() => a.status().peers[0]?.opsNotDurable === 0, 'b holds the first ops');
    await b.close();
    await writeMany(a, 'missed', 20);
    // The operator gives b up: its slot goes, and the log with it.
    expect((await call(a, 'DELETE', '/v1/admin/slots/b', undefined, auth)).status).toBe(200);
    await a.retention.check();
    expect(a.status().log).toMatchObject({ retainedOps: 0, slots: [] });

    const back = await startNode('b', { dataDir, peers: [a.url], retention: manual });
    await until(() => back.status().digest === a.status().digest, 'b converges');
    expect(a.status().peers.find((peer) => peer.nodeId === 'b')?.stats.statesSent).toBeGreaterThan(0);
    expect((await call(back, 'GET', '/v1/c/kv/missed19')).body.value).toBe(19);
  });

  it('DELETE /v1/admin/slots/:node needs the secret and an existing slot', async () => {
    const a = await startNode('a', { retention: manual });
    expect((await call(a, 'DELETE', '/v1/admin/slots/b')).body.error.code).toBe('UNAUTHORIZED');
    const missing = await call(a, 'DELETE', '/v1/admin/slots/b', undefined, auth);
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('SLOT_NOT_FOUND');
  });

  it('refuses bad retention options with INVALID_ARGUMENT', async () => {
    for (const retention of [{ keepMs: -1 }, { maxAgeMs: 1.5 }, { keepMs: 10_000, maxAgeMs: 5_000 }]) {
      await expect(startNode('a', { retention })).rejects.toThrow(DriftlessError);
      await expect(startNode('a', { retention })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    expect(DEFAULT_RETENTION.maxAgeMs).toBeGreaterThan(DEFAULT_RETENTION.keepMs);
  });
});
