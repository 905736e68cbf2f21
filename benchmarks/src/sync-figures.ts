import { formatCount } from './crdt-heap.js';
import { exact, type Sample, summarize } from './measure.js';
import { alignColumns, type Figure } from './report.js';
import { LONG_GC_PAUSE_MS, type PeerCounters, type SystemName } from './sync-ipc.js';
import type { MeshRun } from './sync-mesh-trial.js';
import type { CommitLatency, LatencyRun, ProcessCost, ThroughputRun } from './sync-trial.js';

/**
 * The figures of the replication benchmarks, each beside its baseline from the same run and its
 * target from the issue, and the table of what every node process cost.
 */

/** Everything a run measured, by system; each list holds one entry per repetition. */
export interface SyncResults {
  readonly throughput: ReadonlyMap<SystemName, readonly ThroughputRun[]>;
  readonly latency: ReadonlyMap<SystemName, readonly LatencyRun[]>;
  readonly mesh: MeshRun | undefined;
  /** Synced LMDB commits alone, measured before the latency trials. */
  readonly lmdbCommit: CommitLatency | undefined;
}

/** The targets. */
export const TARGETS = {
  memoryOpsPerS: 1_000_000,
  lmdbOpsPerS: 250_000,
  /** Memory stores: at least this share of the raw pipe's batched rate. */
  memoryShareOfRaw: 1 / 3,
  /** Both stores: at least this many times Yjs over ws. */
  timesYjs: 3,
  p99Ms: 5,
  /** Wire bytes per op: at most this many times the raw pipe's. */
  bytesOfRaw: 1.2,
} as const;

/** What the report calls each system. */
const LABELS: Readonly<Record<SystemName, string>> = {
  'driftless-memory': 'memory stores',
  'driftless-lmdb': 'LMDB stores',
  raw: 'raw pipe',
  yjs: 'Yjs',
};

function runsOf<R>(
  runs: ReadonlyMap<SystemName, readonly R[]>,
  system: SystemName,
): readonly R[] | undefined {
  const list = runs.get(system);
  return list === undefined || list.length === 0 ? undefined : list;
}

function sampleOf<R>(runs: readonly R[] | undefined, pick: (run: R) => number): Sample | undefined {
  return runs === undefined ? undefined : summarize(runs.map(pick));
}

/** A figure of Driftless `system` beside `baseline`, when both were measured. */
function pair(
  base: Omit<Figure, 'driftless' | 'baseline'>,
  driftless: Sample | undefined,
  baseline: Sample | undefined,
): Figure[] {
  if (driftless === undefined) return [];
  if (baseline !== undefined) return [{ ...base, driftless, baseline }];
  // Without its baseline, a figure keeps no target on the ratio to it.
  const { target, ...rest } = base;
  return [{ ...rest, driftless, ...(target === undefined || target.of === 'ratio' ? {} : { target }) }];
}

/** 1: ops/s until B holds every write, with memory and with LMDB stores, beside the raw pipe and Yjs. */
export function throughputFigures(results: SyncResults, writes: number): Figure[] {
  const rate = (system: SystemName) => sampleOf(runsOf(results.throughput, system), (run) => run.opsPerS);
  const raw = rate('raw');
  const yjs = rate('yjs');
  const memory = rate('driftless-memory');
  const lmdb = rate('driftless-lmdb');
  const count = formatCount(writes);
  return [
    ...pair(
      {
        id: 'throughput.memory',
        label: `1a ${count} writes until B holds them · memory stores · raw pipe`,
        unit: 'ops/s',
        target: { of: 'driftless', bound: 'min', value: TARGETS.memoryOpsPerS },
      },
      memory,
      raw,
    ),
    ...pair(
      {
        id: 'throughput.memory.raw',
        label: '1b    memory stores ÷ raw pipe (batched)',
        unit: 'ops/s',
        target: { of: 'ratio', bound: 'min', value: Number(TARGETS.memoryShareOfRaw.toFixed(2)) },
      },
      raw === undefined ? undefined : memory,
      raw,
    ),
    ...pair(
      {
        id: 'throughput.memory.yjs',
        label: '1c    memory stores · Yjs',
        unit: 'ops/s',
        target: { of: 'ratio', bound: 'min', value: TARGETS.timesYjs },
      },
      yjs === undefined ? undefined : memory,
      yjs,
    ),
    ...pair(
      {
        id: 'throughput.lmdb',
        label: '1d    LMDB stores · raw pipe',
        unit: 'ops/s',
        target: { of: 'driftless', bound: 'min', value: TARGETS.lmdbOpsPerS },
      },
      lmdb,
      raw,
    ),
    ...pair(
      {
        id: 'throughput.lmdb.yjs',
        label: '1e    LMDB stores · Yjs',
        unit: 'ops/s',
        target: { of: 'ratio', bound: 'min', value: TARGETS.timesYjs },
      },
      yjs === undefined ? undefined : lmdb,
      yjs,
    ),
  ];
}

/** 2: replication latency percentiles at a fixed rate, beside the raw pipe (and Yjs) at that rate. */
export function latencyFigures(results: SyncResults, ratePerS: number): Figure[] {
  const runs = (system: SystemName) => runsOf(results.latency, system);
  const raw = runs('raw');
  const figures: Figure[] = [];
  const rate = `${formatCount(ratePerS)} writes/s`;
  for (const [letter, system] of [
    ['a', 'driftless-memory'],
    ['b', 'driftless-lmdb'],
  ] as const) {
    const ours = runs(system);
    for (const [index, rank] of (['p50', 'p95', 'p99'] as const).entries()) {
      figures.push(
        ...pair(
          {
            id: `latency.${system.slice('driftless-'.length)}.${rank}`,
            label:
              index === 0
                ? `2${letter} latency at ${rate} · ${LABELS[system]} · raw pipe · ${rank}`
                : `2${letter}    ${rank}`,
            unit: 'ms',
            ...(rank === 'p99'
              ? { target: { of: 'driftless', bound: 'max', value: TARGETS.p99Ms } as const }
              : {}),
          },
          sampleOf(ours, (run) => run[rank]),
          sampleOf(raw, (run) => run[rank]),
        ),
      );
    }
    // The first hop alone: no baseline has one (the raw pipe and Yjs send a write as it is made).
    const local = ours?.every((run) => run.localP99 !== undefined) ? ours : undefined;
    figures.push(
      ...pair(
        {
          id: `latency.${system.slice('driftless-'.length)}.local.p99`,
          label: `2${letter}    p99 of A's own commit (write call → durable at A)`,
          unit: 'ms',
        },
        sampleOf(local, (run) => run.localP99 ?? Number.NaN),
        undefined,
      ),
    );
    figures.push(
      ...pair(
        {
          id: `latency.${system.slice('driftless-'.length)}.hop.p99`,
          label: `2${letter}    p99 of the rest (durable at A → held at B)`,
          unit: 'ms',
        },
        sampleOf(local, (run) => run.hopP99 ?? Number.NaN),
        undefined,
      ),
    );
  }
  figures.push(
    ...pair(
      { id: 'latency.memory.p99.yjs', label: '2c    memory stores · Yjs · p99', unit: 'ms' },
      runs('yjs') === undefined ? undefined : sampleOf(runs('driftless-memory'), (run) => run.p99),
      sampleOf(runs('yjs'), (run) => run.p99),
    ),
  );
  return figures;
}

/** 3: bytes A put on its WebSocket per op (frame headers included), beside the raw pipe and Yjs. */
export function bytesFigures(results: SyncResults): Figure[] {
  const perOp = (system: SystemName) =>
    sampleOf(runsOf(results.throughput, system), (run) => run.sent.sentBytes / run.ops);
  const perOpPaced = (system: SystemName) =>
    sampleOf(runsOf(results.latency, system), (run) => run.sent.sentBytes / run.ops);
  const raw = perOp('raw');
  const yjs = perOp('yjs');
  const memory = perOp('driftless-memory');
  return [
    ...pair(
      {
        id: 'bytes.memory',
        label: '3a wire bytes per op in (1) · memory stores · raw pipe',
        unit: 'B/op',
        target: { of: 'ratio', bound: 'max', value: TARGETS.bytesOfRaw },
      },
      memory,
      raw,
    ),
    ...pair({ id: 'bytes.memory.yjs', label: '3b    memory stores · Yjs', unit: 'B/op' }, yjs && memory, yjs),
    ...pair(
      { id: 'bytes.lmdb', label: '3c    LMDB stores · raw pipe', unit: 'B/op' },
      perOp('driftless-lmdb'),
      raw,
    ),
    ...pair(
      {
        id: 'bytes.memory.paced',
        label: '3d    in (2) · memory stores · raw pipe',
        unit: 'B/op',
      },
      perOpPaced('driftless-memory'),
      perOpPaced('raw'),
    ),
  ];
}

/** Σ opsDuplicate ÷ Σ opsReceived over a node's sessions. */
export function duplicateShare(peers: readonly PeerCounters[]): number {
  const received = peers.reduce((sum, peer) => sum + peer.opsReceived, 0);
  const duplicate = peers.reduce((sum, peer) => sum + peer.opsDuplicate, 0);
  return received === 0 ? 0 : duplicate / received;
}

/** 4: the mesh's duplicate ratio at the two nodes that did not write, and its rate. */
export function meshFigures(results: SyncResults): Figure[] {
  const mesh = results.mesh;
  if (mesh === undefined) return [];
  const count = formatCount(mesh.ops);
  const at = (node: string) => {
    const counts = mesh.counts[node];
    return exact(
      counts === undefined || counts.received === 0
        ? 0
        : (100 * (counts.received - counts.fresh)) / counts.received,
    );
  };
  return [
    {
      id: 'mesh.duplicates.b',
      label: `4a mesh of 3, ${count} writes at a · duplicates at b`,
      unit: '%',
      driftless: at('b'),
    },
    { id: 'mesh.duplicates.c', label: '4b    duplicates at c', unit: '%', driftless: at('c') },
    {
      id: 'mesh.throughput',
      label: '4c    until b and c hold them',
      unit: 'ops/s',
      driftless: exact(mesh.opsPerS),
    },
  ];
}

/** What one node process cost, over the measured part of its trials. */
export interface CostRow {
  readonly part: 'throughput' | 'latency' | 'mesh';
  /** `driftless-memory A`. */
  readonly process: string;
  readonly ops: number;
  /** Medians over the repetitions. */
  readonly userS: number;
  readonly systemS: number;
  /** CPU time (user + system) per op written. */
  readonly cpuUsPerOp: number;
  /** The largest peak RSS over the repetitions. */
  readonly peakRssMiB: number;
  /** The JS heap when the measured part ended (median). */
  readonly heapUsedMiB: number;
  /** The main thread's GC pauses (medians): their total time, and how many were long. */
  readonly gcS: number;
  readonly gcLongPauses: number;
}

/** Rows of one part: the costs of each process name across its repetitions. */
function costRows(
  part: CostRow['part'],
  runs: readonly { ops: number; costs: readonly ProcessCost[] }[],
): CostRow[] {
  const byName = new Map<string, { ops: number; cost: ProcessCost }[]>();
  for (const run of runs) {
    for (const cost of run.costs)
      byName.set(cost.name, [...(byName.get(cost.name) ?? []), { ops: run.ops, cost }]);
  }
  return [...byName].map(([name, list]) => {
    const median = (pick: (cost: ProcessCost) => number) =>
      summarize(list.map(({ cost }) => pick(cost))).median;
    const userS = median((cost) => cost.userMs) / 1000;
    const systemS = median((cost) => cost.systemMs) / 1000;
    const ops = list[0]?.ops ?? 0;
    return {
      part,
      process: name,
      ops,
      userS,
      systemS,
      cpuUsPerOp: ops === 0 ? 0 : ((userS + systemS) * 1e6) / ops,
      peakRssMiB: Math.max(...list.map(({ cost }) => cost.maxRssMiB)),
      heapUsedMiB: median((cost) => cost.heapUsedMiB),
      gcS: median((cost) => cost.gcMs) / 1000,
      gcLongPauses: median((cost) => cost.gcLongPauses),
    };
  });
}

/** Every process's cost, part by part. */
export function allCosts(results: SyncResults): CostRow[] {
  return [
    ...costRows('throughput', [...results.throughput.values()].flat()),
    ...costRows('latency', [...results.latency.values()].flat()),
    ...(results.mesh === undefined ? [] : costRows('mesh', [results.mesh])),
  ];
}

/** The cost table as aligned text. */
export function renderCosts(rows: readonly CostRow[]): string[] {
  const header = [
    'process (measured part)',
    'ops',
    'CPU user',
    'system',
    'CPU/op',
    'GC pauses',
    `≥ ${LONG_GC_PAUSE_MS} ms`,
    'peak RSS',
    'heap',
  ];
  const cells = rows.map((row) => [
    `${row.part}: ${row.process}`,
    formatCount(row.ops),
    `${row.userS.toFixed(2)} s`,
    `${row.systemS.toFixed(2)} s`,
    `${row.cpuUsPerOp.toFixed(2)} µs`,
    `${row.gcS.toFixed(2)} s`,
    formatCount(row.gcLongPauses),
    `${row.peakRssMiB.toFixed(0)} MiB`,
    `${row.heapUsedMiB.toFixed(0)} MiB`,
  ]);
  return alignColumns([header, ...cells], [false, true, true, true, true, true, true, true, true]);
}
