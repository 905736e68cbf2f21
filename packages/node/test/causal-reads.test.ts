/**
 * CausalReads on its own: `after=` waits for the durable log and the state both, and a state that
 * lags its log (only a bug does that; here, an op appended to the log behind the state's back) is
 * never answered as reached, and is reported.
 */
import { MemoryStore, VersionVector } from '@driftless/core';
import { ReplicaStore } from '@driftless/crdt';
import { describe, expect, it } from 'vitest';
import { CausalReads } from '../src/causal-reads.js';
import { decodeToken, encodeToken } from '../src/causal-token.js';

async function setup(readTimeoutMs = 50) {
  const replica = await ReplicaStore.open({ store: await MemoryStore.open(), nodeId: 'a' });
  const bugs: Error[] = [];
  const causal = new CausalReads(replica, {
    readTimeoutMs,
    closing: () => false,
    onBug: (e) => bugs.push(e),
  });
  replica.onChanges(() => causal.check());
  return { replica, causal, bugs };
}

const after = (vector: Record<string, number>) =>
  new URLSearchParams({ after: encodeToken(VersionVector.from(new Map(Object.entries(vector)))) });

describe('CausalReads', () => {
  it('an after= the node reaches later is released by the commit that reaches it', async () => {
    const { replica, causal, bugs } = await setup(5_000);
    const waiting = causal.awaitAfter(after({ a: 1 }));
    await replica.write('c', 'k', { kind: 'set', value: 1 });
    await waiting;
    expect(decodeToken(causal.token()).toJSON()).toEqual({ a: 1 });
    expect(bugs).toEqual([]);
  });

  it('a state that lags its durable log does not reach a token, and is reported as a bug', async () => {
    const { replica, causal, bugs } = await setup();
    const b = await ReplicaStore.open({ store: await MemoryStore.open(), nodeId: 'b' });
    const { op } = await b.write('c', 'k', { kind: 'set', value: 1 });
    // Appended to the log directly: durable, never applied to the state.
    await replica.log.append([op]);
    expect(replica.log.versionVector.toJSON()).toEqual({ b: 1 });
    await expect(causal.awaitAfter(after({ b: 1 }))).rejects.toMatchObject({ code: 'READ_TIMEOUT' });
    expect(bugs.map((bug) => bug.message)).toEqual([
      'the state lacks ops its durable log holds: state {}, log {"b":1}',
    ]);
  });
});
