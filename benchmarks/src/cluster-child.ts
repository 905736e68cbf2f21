/**
 * A node process of the convergence scenarios (spawned by cluster-run.ts over IPC): one node of
 * one system — the real Driftless node (cluster-driftless.ts) or a baseline (cluster-raw.ts,
 * cluster-yjs.ts, cluster-automerge.ts) — with its writes made before it starts, serving the
 * parent's requests (sync-server.ts).
 *
 *   node --conditions=@driftless/source --import tsx benchmarks/src/cluster-child.ts --spec='{…}'
 */
import { AutomergePeer } from './cluster-automerge.js';
import type { MeshPeer } from './cluster-mesh.js';
import { RawPeer } from './cluster-raw.js';
import { type ClusterNodeSpec, parseSpec } from './cluster-spec.js';
import { type ClusterWrite, writesOf } from './cluster-workload.js';
import { YjsPeer } from './cluster-yjs.js';
import type { SyncNode } from './sync-node.js';
import { serveParent } from './sync-server.js';

/** Starts a baseline node: listens, loads any saved state, dials its peers. */
async function startBaseline(
  Peer: new (name: string, spec: ClusterNodeSpec, writes: readonly ClusterWrite[]) => MeshPeer,
  spec: ClusterNodeSpec,
  writes: readonly ClusterWrite[],
): Promise<SyncNode> {
  const peer = new Peer(`${spec.system} n${spec.index}`, spec, writes);
  await peer.start();
  return peer;
}

const spec = parseSpec(process.argv.slice(2));
const writes = writesOf(spec.scenario, spec.params, spec.index, spec.writes);
const BASELINES = { raw: RawPeer, yjs: YjsPeer, automerge: AutomergePeer } as const;
await serveParent(
  () =>
    spec.system === 'driftless'
      ? // Loaded only here: a baseline's process never loads Driftless.
        import('./cluster-driftless.js').then(({ startDriftlessNode }) => startDriftlessNode(spec, writes))
      : startBaseline(BASELINES[spec.system], spec, writes),
  true,
  'cluster-child.ts',
);
