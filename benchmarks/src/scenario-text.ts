import { withCluster } from './cluster-run.js';
import { TRACE_EDITS } from './cluster-workload.js';
import { clusterOf, type Scenario, systemsOnly, warmWrites } from './scenario.js';

/**
 * 5 · text: node 0 replays the automerge-paper editing trace (one edit per write, as fast as it
 * can: Driftless writes each as a `yjs` op carrying one Yjs update) and every other node converges
 * on the document. The first edits are the warm-up; the rest are timed until every node holds all.
 */
export const text: Scenario = {
  name: 'text',
  title: '5 · text (automerge-paper trace)',
  metrics: [
    { id: 'throughput', label: 'edits until every node holds them', unit: 'ops/s', better: 'higher' },
    { id: 'convergeMs', label: 'last edit → every node converged', unit: 'ms', better: 'lower' },
  ],
  notes: [
    'text: one writer (node 0) replays the trace in order; the raw pipe carries the edits but builds no document.',
  ],
  fit: (params) => ({
    ...params,
    writers: 1,
    ratePerS: undefined,
    writes: Math.min(Math.max(params.writes, 1), TRACE_EDITS),
  }),
  variants: systemsOnly,
  run: (system, params, context) => {
    const warm = Math.min(warmWrites(context), Math.floor(params.writes / 2));
    return withCluster(clusterOf(system, 'text', params, params.writes, context), async (cluster) => {
      const writer = cluster.node(0);
      await Promise.all([cluster.held(warm), writer.request('burst', { from: 0, to: warm })]);
      const before = await cluster.probeAll();
      const [convergedAt, written] = await Promise.all([
        cluster.held(params.writes),
        writer.request('burst', { from: warm, to: params.writes }),
      ]);
      const costs = await cluster.costsSince(before);
      return {
        system,
        converged: await cluster.converged(),
        values: {
          throughput: (params.writes - warm) / ((convergedAt - written.startMs) / 1000),
          convergeMs: Math.max(0, convergedAt - written.endMs),
        },
        costs,
      };
    });
  },
};
