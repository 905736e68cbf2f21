import type { ClusterSystem } from './cluster-params.js';
import { withCluster } from './cluster-run.js';
import { burstAll, clusterOf, type Scenario, type Variant, warmUp, warmWrites } from './scenario.js';

/**
 * 4 · catch-up: the last node is stopped (gracefully) after the warm-up, the writers write N writes
 * each as fast as they can, the other nodes converge, and the node is started again — on its data
 * directory when the store is LMDB (the baselines then save their state to a file on exit and
 * load it on start), empty on memory stores. Measured: the time from the start of its process's
 * node (before the store opens) until it holds every write, and the bytes it received meanwhile.
 *
 * Driftless runs twice: `driftless` catches up from its peers' logs; `driftless-snapshot` first
 * truncates every live node's log up to its vector (OpLog.truncate; no retention policy drives it
 * yet), so the peers cannot serve the rejoining node from the log and send a state snapshot. The
 * states the node installed are reported (`statesReceived`, in the JSON) to show which way it went.
 */
export const catchup: Scenario = {
  name: 'catchup',
  title: '4 · catch-up',
  metrics: [
    { id: 'catchUpMs', label: 'restarted node → holds every write', unit: 'ms', better: 'lower' },
    { id: 'catchUpBytes', label: 'bytes the rejoining node received', unit: 'B', better: 'lower' },
  ],
  notes: [
    'catch-up: Driftless byte counts are its replication sessions’ frame payloads; the baselines’ include ws frame headers.',
  ],
  fit: (params) => ({
    ...params,
    nodes: Math.max(2, params.nodes),
    writers: Math.min(Math.max(1, params.writers), params.nodes - 1),
    ratePerS: undefined,
  }),
  variants: (systems: readonly ClusterSystem[]): readonly Variant[] =>
    systems.flatMap((system): Variant[] =>
      system === 'driftless' ? ['driftless', 'driftless-snapshot'] : [system],
    ),
  run: (system, params, context) => {
    const warm = warmWrites(context);
    const writesPerWriter = warm + params.writes;
    const total = writesPerWriter * params.writers;
    const down = params.nodes - 1;
    const live = Array.from({ length: down }, (_, i) => i);
    return withCluster(clusterOf(system, 'catchup', params, writesPerWriter, context), async (cluster) => {
      await warmUp(cluster, warm);
      await cluster.stopNode(down);
      await Promise.all([cluster.held(total, live), burstAll(cluster, warm, writesPerWriter)]);
      if (system === 'driftless-snapshot')
        await Promise.all(live.map((i) => cluster.node(i).request('truncate', {})));
      const before = await cluster.probeAll();
      const restarted = await cluster.startNode(down);
      const caughtUpAt = await cluster.held(total, [down]);
      const probe = await restarted.request('probe', {});
      // Driftless: how many states (snapshots) the node installed, to show which way it caught up.
      const { peers } = await restarted.request('status', {});
      const states = peers.reduce((sum, peer) => sum + (peer.statesReceived ?? 0), 0);
      const costs = await cluster.costsSince([...before, { ...probe, usage: zeroUsage }]);
      return {
        system,
        converged: await cluster.converged(),
        values: {
          catchUpMs: caughtUpAt - (restarted.startedMs ?? caughtUpAt),
          catchUpBytes: probe.traffic.receivedBytes,
          ...(system.startsWith('driftless') ? { statesReceived: states } : {}),
        },
        costs,
      };
    });
  },
};

/** A process that had cost nothing yet: the restarted node is measured from its start. */
const zeroUsage = {
  userMs: 0,
  systemMs: 0,
  maxRssMiB: 0,
  rssMiB: 0,
  heapUsedMiB: 0,
  externalMiB: 0,
  gcPauses: 0,
  gcMs: 0,
  gcLongPauses: 0,
};
