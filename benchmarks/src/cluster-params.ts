/**
 * The parameters of the convergence scenarios (cluster-*.ts, scenario-*.ts): how many node
 * processes, how they are wired, who writes what and how fast, and on which store. Every scenario
 * has its defaults (full and quick); flags override them for every scenario run.
 */

/** The scenarios of the suite, in the order they run. */
export const SCENARIOS = ['burst', 'steady', 'partition', 'catchup', 'text'] as const;
/** A scenario's name. */
export type ScenarioName = (typeof SCENARIOS)[number];

/** The systems every scenario runs: Driftless and its three baselines. */
export const CLUSTER_SYSTEMS = ['driftless', 'raw', 'yjs', 'automerge'] as const;
/** A system's name. */
export type ClusterSystem = (typeof CLUSTER_SYSTEMS)[number];
/** The baselines, each a column of ratios in the report. */
export const BASELINES = ['raw', 'yjs', 'automerge'] as const satisfies readonly ClusterSystem[];

/** Who dials whom: every pair (mesh), everyone to node 0 (star), each to the next (ring). */
export const TOPOLOGIES = ['mesh', 'star', 'ring'] as const;
/** A topology's name. */
export type Topology = (typeof TOPOLOGIES)[number];

/** Op types of the key-value scenarios: a last-writer-wins register set, a counter increment. */
export const OP_TYPES = ['set', 'incr'] as const;
/** An op type. */
export type OpType = (typeof OP_TYPES)[number];

/** Where a Driftless node keeps its log and state (the baselines keep theirs in memory). */
export const STORES = ['memory', 'lmdb'] as const;
/** A store's name. */
export type StoreKind = (typeof STORES)[number];

/** One scenario's parameters. */
export interface ClusterParams {
  readonly nodes: number;
  readonly topology: Topology;
  /** Nodes 0 … writers − 1 write. */
  readonly writers: number;
  /** Writes per second per writer; undefined: as fast as possible. */
  readonly ratePerS: number | undefined;
  /** Writes per writer (burst, catch-up: the N writes; text: edits of the trace replayed). */
  readonly writes: number;
  /** Distinct keys each writer draws from, and the share of writes to keys every writer shares. */
  readonly keys: number;
  readonly conflictShare: number;
  /** Bytes of each set's value. */
  readonly valueBytes: number;
  /** The op types writes cycle through. */
  readonly ops: readonly OpType[];
  readonly store: StoreKind;
  /** Steady: how long writers write; partition-heal: how long the partition lasts. */
  readonly seconds: number;
}

/** Every scenario's defaults, full and quick. */
export const DEFAULTS: Readonly<Record<ScenarioName, { full: ClusterParams; quick: ClusterParams }>> = {
  burst: pairOf(
    { nodes: 3, topology: 'mesh', writers: 3, ratePerS: undefined, writes: 8_000, seconds: 0 },
    { writes: 500 },
  ),
  steady: pairOf(
    { nodes: 3, topology: 'mesh', writers: 1, ratePerS: 1_000, writes: 0, seconds: 10 },
    { seconds: 1, ratePerS: 500 },
  ),
  partition: pairOf(
    { nodes: 3, topology: 'mesh', writers: 3, ratePerS: 500, writes: 0, seconds: 5 },
    { seconds: 1, ratePerS: 300 },
  ),
  catchup: pairOf(
    {
      nodes: 3,
      topology: 'mesh',
      writers: 2,
      ratePerS: undefined,
      writes: 20_000,
      seconds: 0,
      store: 'lmdb',
    },
    { writes: 1_000 },
  ),
  text: pairOf(
    { nodes: 3, topology: 'mesh', writers: 1, ratePerS: undefined, writes: 259_778, seconds: 0 },
    { writes: 2_000 },
  ),
};

/** The full defaults (the key-value workload's filled in) and the quick ones (`quick` over them). */
function pairOf(
  full: Partial<ClusterParams>,
  quick: Partial<ClusterParams>,
): { full: ClusterParams; quick: ClusterParams } {
  const whole: ClusterParams = {
    nodes: 3,
    topology: 'mesh',
    writers: 1,
    ratePerS: undefined,
    writes: 0,
    keys: 10_000,
    conflictShare: 0.1,
    valueBytes: 32,
    ops: ['set'],
    store: 'memory',
    seconds: 0,
    ...full,
  };
  return { full: whole, quick: { ...whole, ...quick } };
}

/** Writes per writer of a paced scenario: its rate over its seconds. */
export function pacedWrites(params: ClusterParams): number {
  return Math.max(1, Math.round((params.ratePerS ?? 1_000) * params.seconds));
}

/** A one-line summary of the parameters for the report: `3 nodes mesh · 3 writers · …`. */
export function describeParams(params: ClusterParams, scenario: ScenarioName): string {
  const rate = params.ratePerS === undefined ? 'as fast as possible' : `${params.ratePerS}/s each`;
  const parts = [
    `${params.nodes} nodes ${params.topology}`,
    `${params.writers} writer${params.writers === 1 ? '' : 's'}`,
    rate,
  ];
  if (scenario === 'text') parts.push(`${params.writes.toLocaleString('en-US')} edits`);
  else {
    if (params.writes > 0) parts.push(`${params.writes.toLocaleString('en-US')} writes each`);
    if (params.seconds > 0) parts.push(`${params.seconds} s`);
    parts.push(
      `${params.keys.toLocaleString('en-US')} keys`,
      `${Math.round(params.conflictShare * 100)}% shared`,
      `${params.valueBytes} B values`,
      params.ops.join('+'),
    );
  }
  parts.push(`Driftless on ${params.store}`);
  return parts.join(' · ');
}
