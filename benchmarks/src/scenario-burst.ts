import { withCluster } from './cluster-run.js';
import { burstAll, clusterOf, type Scenario, systemsOnly, warmUp, warmWrites } from './scenario.js';

/**
 * 1 · burst: every writer writes as fast as it can. Throughput is the writes of all writers over
 * the time from the first write until every node holds them all; convergence is the time from the
 * last write (the last writer's last write settled) until every node held everything.
 */
export const burst: Scenario = {
  name: 'burst',
  title: '1 · burst',
  metrics: [
    { id: 'throughput', label: 'writes until every node holds them', unit: 'ops/s', better: 'higher' },
    { id: 'convergeMs', label: 'last write → every node converged', unit: 'ms', better: 'lower' },
  ],
  notes: [],
  fit: (params) => ({ ...params, writers: Math.min(params.writers, params.nodes), ratePerS: undefined }),
  variants: systemsOnly,
  run: (system, params, context) => {
    const warm = warmWrites(context);
    const writesPerWriter = warm + params.writes;
    const total = writesPerWriter * params.writers;
    return withCluster(clusterOf(system, 'burst', params, writesPerWriter, context), async (cluster) => {
      await warmUp(cluster, warm);
      const before = await cluster.probeAll();
      const [convergedAt, written] = await Promise.all([
        cluster.held(total),
        burstAll(cluster, warm, writesPerWriter),
      ]);
      const costs = await cluster.costsSince(before);
      return {
        system,
        converged: await cluster.converged(),
        values: {
          throughput: (params.writes * params.writers) / ((convergedAt - written.startMs) / 1000),
          convergeMs: Math.max(0, convergedAt - written.endMs),
        },
        costs,
      };
    });
  },
};
