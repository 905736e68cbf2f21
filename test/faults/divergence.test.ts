/**
 * The divergence explainer names the keys survivors disagree on, read from their stores: here two
 * nodes cut off from each other each write their own value to one register.
 */
import { seededRandom, testSeed } from '@driftless/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { perform } from './client-request.js';
import { differingEntries, explainDivergence } from './divergence.js';
import { FaultCluster } from './fault-cluster.js';
import { History } from './history.js';

const seed = testSeed();
let cluster: FaultCluster | undefined;
afterAll(() => cluster?.close());

describe('explaining a divergence', () => {
  it('names the key two partitioned nodes stored differently, with both entries', async () => {
    cluster = await FaultCluster.start({ ids: ['n1', 'n2'], random: seededRandom(seed), timeoutMs: 2_000 });
    cluster.partition([['n1'], ['n2']], true);
    const history = new History();
    for (const node of ['n1', 'n2']) {
      const request = {
        client: node,
        session: false,
        node,
        kind: 'put' as const,
        collection: 'registers',
        key: 'k1',
        arg: `${node}'s`,
      };
      const { operation } = await perform(history, cluster.url(node), request, 5_000);
      expect(operation.outcome).toBe('ok');
    }
    const violations = await explainDivergence(cluster, ['n1', 'n2'], 'partitioned', false);
    expect(violations).toHaveLength(1);
    expect(violations[0]?.kind).toBe('diverged');
    expect(violations[0]?.message).toMatch(
      /^partitioned: registers\/k1 is stored as .*"n2's".* on n2, .*"n1's".* on n1$/,
    );
  });

  it('says when the stored states agree, and names nothing for a single node', () => {
    const same = new Map([['registers/k0', '[1,"a",1,"x"]']]);
    expect(
      differingEntries(
        new Map([
          ['n1', same],
          ['n2', new Map(same)],
        ]),
        'l',
      ),
    ).toEqual([
      {
        kind: 'diverged',
        message: 'l: the stored states agree on every key; the difference was only in memory',
        operations: [],
      },
    ]);
    expect(differingEntries(new Map([['n1', same]]), 'l')).toEqual([]);
  });
});
