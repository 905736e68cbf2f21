import type { ClusterParams, ClusterSystem, ScenarioName } from './cluster-params.js';

/**
 * What the parent tells a cluster node process (cluster-child.ts) on its command line: its
 * system, its place in the cluster, whom it dials, the scenario's parameters (its writes are
 * made from them), and where it keeps its data.
 */

/** One node process of a cluster. */
export interface ClusterNodeSpec {
  readonly system: ClusterSystem;
  readonly scenario: ScenarioName;
  readonly params: ClusterParams;
  /** Its index: node id n<index>, writer <index> when index < params.writes. */
  readonly index: number;
  /** The port it listens on (127.0.0.1), picked by the parent so that every url is known up front. */
  readonly port: number;
  /** Urls of the nodes it dials. */
  readonly peers: readonly string[];
  /** Writes it makes over the whole run (warm-up included). */
  readonly writes: number;
  /**
   * Where it keeps its data between runs of the process (catch-up): a Driftless node's LMDB store,
   * a baseline's saved state. Undefined: memory only, lost when the process exits.
   */
  readonly dataDir: string | undefined;
}

/** The spec as the child's command line. */
export function specArgs(spec: ClusterNodeSpec): string[] {
  return [`--spec=${JSON.stringify(spec)}`];
}

/** Reads the spec back from the child's command line. */
export function parseSpec(args: readonly string[]): ClusterNodeSpec {
  const arg = args.find((item) => item.startsWith('--spec='));
  if (arg === undefined) throw new Error('usage: cluster-child.ts --spec=<json>');
  return JSON.parse(arg.slice('--spec='.length)) as ClusterNodeSpec;
}

/** Whether the baselines relay what they receive: in a mesh every writer reaches every node itself. */
export function relays(spec: ClusterNodeSpec): boolean {
  return spec.params.topology !== 'mesh';
}
