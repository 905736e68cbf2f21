import { pacedWrites } from './cluster-params.js';
import { withCluster } from './cluster-run.js';
import { clusterOf, fitPaced, pacedAll, type Scenario, systemsOnly, warmUp, warmWrites } from './scenario.js';
import { monotonicMs } from './sync-workload.js';

/**
 * 3 · partition-heal: every link runs through a LinkProxy. After the warm-up the cluster is cut in
 * two (nodes 0 … ⌈n/2⌉ − 1 and the rest: every proxy between the halves drops its connections and
 * refuses new ones) while every writer writes at its rate for the partition's seconds; then every
 * proxy heals. Measured: the time from the heal until every node holds every write, and the bytes
 * the proxies carried over that time (both directions, WebSocket frames and all).
 */
export const partition: Scenario = {
  name: 'partition',
  title: '3 · partition-heal',
  metrics: [
    { id: 'healMs', label: 'heal → every node converged', unit: 'ms', better: 'lower' },
    { id: 'healBytes', label: 'bytes exchanged after the heal', unit: 'B', better: 'lower' },
  ],
  notes: [],
  fit: fitPaced,
  variants: systemsOnly,
  run: (system, params, context) => {
    const warm = warmWrites(context);
    const writesPerWriter = warm + pacedWrites(params);
    const half = Math.ceil(params.nodes / 2);
    const crosses = (key: string) => {
      const [from, to] = key.split('>').map(Number) as [number, number];
      return from < half !== to < half;
    };
    return withCluster(
      clusterOf(system, 'partition', params, writesPerWriter, context, true),
      async (cluster) => {
        await warmUp(cluster, warm);
        const before = await cluster.probeAll();
        for (const [key, proxy] of cluster.proxies) if (crosses(key)) proxy.cut();
        await pacedAll(cluster, warm, writesPerWriter, params.ratePerS ?? 1_000);
        const bytesBefore = cluster.proxiedBytes();
        const healedAt = monotonicMs();
        for (const proxy of cluster.proxies.values()) proxy.heal();
        const convergedAt = await cluster.held(writesPerWriter * params.writers);
        const healBytes = cluster.proxiedBytes() - bytesBefore;
        const costs = await cluster.costsSince(before);
        return {
          system,
          converged: await cluster.converged(),
          values: { healMs: convergedAt - healedAt, healBytes },
          costs,
        };
      },
    );
  },
};
