/**
 * The mesh trial of the replication benchmark: three Driftless node processes, every pair
 * connected, one writing; how many of the ops each of the other two received were duplicates.
 */
import type { ChildOptions, PeerCounters, ReceiveCounts, Requests } from './sync-ipc.js';
import { type NodeProcess, spawnAll, withNodes } from './sync-process.js';
import { costOf, type Probe, type ProcessCost, probe, type TrialSettings } from './sync-trial.js';
import { NODE_A, NODE_B, NODE_C } from './sync-workload.js';

/** The mesh trial. */
export interface MeshRun {
  readonly ops: number;
  /** Ops over the time from a's first write until b and c held them all. */
  readonly opsPerS: number;
  /** Session counters at b and at c, once the mesh was quiet (a replaced session starts from zero). */
  readonly peers: Readonly<Record<string, readonly PeerCounters[]>>;
  /** The peers' ops b and c applied, over all their sessions. */
  readonly counts: Readonly<Record<string, ReceiveCounts>>;
  /** Sessions that closed while the mesh ran, at any node. */
  readonly disconnects: readonly string[];
  readonly costs: readonly ProcessCost[];
}

/**
 * The mesh: Driftless nodes a, b, c on memory stores, every pair connected (c listens; b listens
 * and dials c; a listens and dials b and c). a writes `ops` ops as fast as it can; once b and c
 * hold them all and their counters have stopped moving, their session counters are read.
 */
export async function runMesh(ops: number, settings: TrialSettings): Promise<MeshRun> {
  const mesh = (
    nodeId: string,
    peers: readonly (NodeProcess | undefined)[],
    writes: number,
  ): ChildOptions => ({
    system: 'driftless-memory',
    role: 'mesh',
    nodeId,
    listen: true,
    peers: peers.map((peer) => peer?.url as string),
    dir: undefined,
    ops: writes,
    window: settings.window,
  });
  const [c, b, a] = (await spawnAll(
    [
      { name: 'mesh c', options: () => mesh(NODE_C, [], 0) },
      { name: 'mesh b', options: ([cNode]) => mesh(NODE_B, [cNode], 0) },
      { name: 'mesh a', options: ([cNode, bNode]) => mesh(NODE_A, [bNode, cNode], ops) },
    ],
    settings,
  )) as [NodeProcess, NodeProcess, NodeProcess];
  const nodes = [a, b, c];
  return withNodes(nodes, async () => {
    await Promise.all(nodes.map((node) => node.request('connected', { peers: 2 })));
    const before = await Promise.all(nodes.map(probe));
    const [bHeld, cHeld, written] = await Promise.all([
      b.request('hold', { count: ops }),
      c.request('hold', { count: ops }),
      a.request('burst', { from: 0, to: ops }),
    ]);
    const after = await Promise.all(nodes.map(probe));
    // Relays between b and c may still be in flight: wait until neither count moves for 300 ms.
    let last = -1;
    let statuses: Requests['status']['result'][] = [];
    for (let round = 0; round < 50; round++) {
      statuses = await Promise.all([b.request('status', {}), c.request('status', {})]);
      const total = statuses.reduce((sum, status) => sum + (status.counts?.received ?? 0), 0);
      if (total === last) break;
      last = total;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    const [atB, atC] = statuses as [Requests['status']['result'], Requests['status']['result']];
    const none: ReceiveCounts = { received: 0, fresh: 0 };
    return {
      ops,
      opsPerS: ops / ((Math.max(bHeld.atMs, cHeld.atMs) - written.startMs) / 1000),
      peers: { [NODE_B]: atB.peers, [NODE_C]: atC.peers },
      counts: { [NODE_B]: atB.counts ?? none, [NODE_C]: atC.counts ?? none },
      disconnects: after.flatMap((probed, i) =>
        probed.disconnects.map((line) => `${nodes[i]?.name}: ${line}`),
      ),
      costs: nodes.map((node, i) => costOf(node.name, (before[i] as Probe).usage, (after[i] as Probe).usage)),
    };
  });
}
