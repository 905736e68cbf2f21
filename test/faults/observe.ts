/**
 * The end of a phase: wait until the surviving nodes agree (same digest and vector), then take
 * each one's status and read every key the workload used. A cluster that never agrees is still
 * observed: the checker reports the divergence, with the seed, instead of a timeout.
 */

import { perform } from './client-request.js';
import type { FaultCluster } from './fault-cluster.js';
import { type FinalObservation, History, type NodeObservation, sameVector, type Vector } from './history.js';
import { workloadKeys } from './workload.js';

/** How long survivors may take to agree after a heal (reconnect backoff is at most 10 s). */
export const CONVERGENCE_TIMEOUT_MS = 60_000;
/** Final reads are numbered from here, apart from the clients' operations. */
const FINAL_INDEX_BASE = 1_000_000;

interface Status {
  readonly digest: string;
  readonly vector: Vector;
}

/** Waits for `survivors` to agree (at most CONVERGENCE_TIMEOUT_MS) and observes them, after `history`. */
export async function observe(
  cluster: FaultCluster,
  history: History,
  survivors: readonly string[],
  dead: readonly string[],
  label: string,
): Promise<FinalObservation & { converged: boolean }> {
  const deadline = performance.now() + CONVERGENCE_TIMEOUT_MS;
  let converged = false;
  while (!converged && performance.now() < deadline) {
    const all = await Promise.all(survivors.map((id) => status(cluster.url(id))));
    converged = all.every(
      (s) => s !== undefined && s.digest === all[0]?.digest && sameVector(s.vector, all[0].vector),
    );
    if (!converged) await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const reads = new History();
  const nodes: NodeObservation[] = [];
  for (const id of survivors) {
    const { digest, vector } = (await status(cluster.url(id))) ?? { digest: 'unreachable', vector: {} };
    const operations = [];
    for (const { collection, key } of workloadKeys()) {
      const request = { client: 'final', session: false, node: id, kind: 'read' as const, collection, key };
      const { operation } = await perform(reads, cluster.url(id), request, 10_000);
      operations.push({ ...operation, index: FINAL_INDEX_BASE + operation.index });
    }
    nodes.push({ node: id, digest, vector, reads: operations });
  }
  return { label, survivors: nodes, dead, converged, before: history.invoked };
}

async function status(url: string): Promise<Status | undefined> {
  try {
    const response = await fetch(`${url}/v1/status`, { signal: AbortSignal.timeout(5_000) });
    return (await response.json()) as Status;
  } catch {
    return undefined;
  }
}
