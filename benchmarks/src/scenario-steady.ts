import { pacedWrites } from './cluster-params.js';
import { withCluster } from './cluster-run.js';
import { nodeIdOf } from './cluster-workload.js';
import { clusterOf, fitPaced, pacedAll, type Scenario, systemsOnly, warmUp, warmWrites } from './scenario.js';
import { percentiles } from './sync-workload.js';

/**
 * 2 · steady: every writer writes at a fixed rate. Replication latency is, for each write of
 * node 0, the time from its write call until every other node holds it (the slowest of them);
 * the figures are its percentiles. Times come from the node processes, on the one monotonic clock
 * they share.
 */
export const steady: Scenario = {
  name: 'steady',
  title: '2 · steady',
  metrics: [
    { id: 'p50', label: 'latency p50: written at n0 → held by every node', unit: 'ms', better: 'lower' },
    { id: 'p95', label: 'latency p95', unit: 'ms', better: 'lower' },
    { id: 'p99', label: 'latency p99', unit: 'ms', better: 'lower' },
  ],
  notes: [],
  fit: fitPaced,
  variants: systemsOnly,
  run: (system, params, context) => {
    const warm = warmWrites(context);
    const timed = pacedWrites(params);
    const writesPerWriter = warm + timed;
    const record = { from: warm, to: writesPerWriter };
    return withCluster(clusterOf(system, 'steady', params, writesPerWriter, context), async (cluster) => {
      await warmUp(cluster, warm);
      const before = await cluster.probeAll();
      const watchers = cluster.up.slice(1);
      const [arrivals, paced] = await Promise.all([
        Promise.all(
          watchers.map((node) =>
            node.request('hold', { count: writesPerWriter, origin: nodeIdOf(0), record }),
          ),
        ),
        cluster.node(0).request('paced', { ...record, ratePerS: params.ratePerS ?? 1_000 }),
        pacedAll(cluster, warm, writesPerWriter, params.ratePerS ?? 1_000, 1),
      ]);
      await cluster.held(writesPerWriter * params.writers);
      const costs = await cluster.costsSince(before);
      const latencies = new Float64Array(timed);
      for (let i = 0; i < timed; i++) {
        let slowest = 0;
        for (const { arrivals: times } of arrivals)
          slowest = Math.max(slowest, (times?.[i] ?? Number.NaN) - (paced.times[i] as number));
        latencies[i] = Math.max(0, slowest);
      }
      const [p50, p95, p99] = percentiles(latencies, [0.5, 0.95, 0.99]) as [number, number, number];
      return { system, converged: await cluster.converged(), values: { p50, p95, p99 }, costs };
    });
  },
};
