/**
 * The whole pipeline (real processes, proxies, history, final observation, checker) can fail: a
 * node that forgets acknowledged writes, here by losing its data directory while cut off, is
 * reported as `lost-write` when the checker is not told the loss was expected, and not otherwise.
 */
import { seededRandom, testSeed } from '@driftless/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { checkHistory } from './checker.js';
import { type ClientRequest, perform } from './client-request.js';
import { FaultCluster } from './fault-cluster.js';
import { History } from './history.js';
import { observe } from './observe.js';

const seed = testSeed();
const ids = ['n1', 'n2', 'n3'];
let cluster: FaultCluster | undefined;
afterAll(() => cluster?.close());

describe('a node that forgets what it acknowledged', () => {
  it('is caught by the checker', async () => {
    cluster = await FaultCluster.start({ ids, random: seededRandom(seed), timeoutMs: 2_000 });
    const history = new History();
    const request = (node: string, n: number, kind: 'add' | 'incr'): ClientRequest => ({
      client: `c-${node}`,
      session: false,
      node,
      kind,
      collection: kind === 'add' ? 'sets' : 'counters',
      key: 'k0',
      arg: kind === 'add' ? `${node}.${n}` : 1 + n,
    });
    for (let n = 0; n < 4; n++) {
      for (const kind of ['add', 'incr'] as const) {
        await perform(history, cluster.url('n2'), request('n2', n, kind), 5_000);
      }
    }
    cluster.partition([['n1'], ['n2', 'n3']], true);
    for (let n = 0; n < 3; n++) {
      for (const kind of ['add', 'incr'] as const) {
        const { operation } = await perform(history, cluster.url('n1'), request('n1', n, kind), 5_000);
        expect(operation.outcome).toBe('ok');
      }
    }
    // n1 loses everything it held alone, comes back empty, and the network heals.
    await cluster.destroy('n1');
    await cluster.startNode('n1');
    cluster.healNetwork();
    const observation = await observe(cluster, history, ids, [], 'after n1 forgot');
    const lost = checkHistory(history.operations(), [observation]).filter((v) => v.kind === 'lost-write');
    expect(lost.map((v) => v.operations[0]).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(
      history
        .operations()
        .filter((op) => op.node === 'n1')
        .map((op) => op.index),
    );
    // Told that n1's data was destroyed, the checker excuses exactly those writes.
    expect(checkHistory(history.operations(), [{ ...observation, dead: ['n1'] }])).toEqual([]);
  });
});
