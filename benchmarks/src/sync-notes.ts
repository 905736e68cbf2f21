import { formatCount } from './crdt-heap.js';
import { duplicateShare, type SyncResults } from './sync-figures.js';
import { LONG_GC_PAUSE_MS, type PeerCounters, type StoreStats } from './sync-ipc.js';
import type { Commits } from './sync-trial.js';

/** What the notes need to know of the run's settings. */
export interface NoteSettings {
  readonly writes: number;
  readonly reps: number;
  readonly warmOps: number;
  readonly latencyRatePerS: number;
  readonly latencySeconds: number;
  readonly latencyReps: number;
  readonly meshWrites: number;
  readonly writeWindow: number;
  readonly rawBatchOps: number;
  readonly built: boolean;
  readonly clock: { readonly probes: number; readonly violations: number; readonly widestMs: number };
}

/** How running from sources compares with the built code a user runs. */
const SOURCE_NOTES = [
  'Driftless ran from its TypeScript sources through tsx (esbuild output, closures wrapped in __name()). In an',
  'interleaved check (2026-11-26: 100k writes, memory stores, 2 × 2 trials) the tsc-built dist/ (--built) was no',
  "faster: 103k and 107k ops/s against 105k and 119k from sources, A's CPU per op 9.2 µs against 8.2–9.0 µs.",
];

/** The notes of the report: exactly what each side of every figure measures. */
export function syncNotes(results: SyncResults, settings: NoteSettings): string[] {
  const { clock } = settings;
  const ran = {
    throughput: results.throughput.size > 0,
    latency: results.latency.size > 0,
    mesh: results.mesh !== undefined,
  };
  return [
    'Every trial starts fresh node processes on 127.0.0.1 (A dials B over ws://, fresh stores, LMDB ones in a',
    `temporary directory) and runs ${formatCount(settings.warmOps)} untimed warm-up writes that B must hold before anything is timed.`,
    'Keys are distinct 16-character strings, values 32-character strings; A makes them all before it is timed.',
    'Driftless: a ReplicaStore (@driftless/crdt) on a MemoryStore or on an LmdbStore (@driftless/core/lmdb, whose',
    'commits resolve once synced), replicated by the Replicator over WsTransport (@driftless/sync), all defaults.',
    `A calls ReplicaStore.write(collection, key, { kind: 'set', value }) once per write, with at most`,
    `${settings.writeWindow.toLocaleString('en-US')} writes in flight (issued, not yet durable). B holds an op once the durable version vector`,
    'of its log includes it (checked on each onAppend).',
    'Raw pipe (the ceiling): the same ops as plain objects (origin, seq, HLC, collection, key, mutation [0, value]),',
    `msgpackr's default pack (no records), ${settings.rawBatchOps.toLocaleString('en-US')} ops a frame, one ws connection; B unpacks each frame and keeps`,
    'every mutation in a Map by key. No log, store, validation or acknowledgement.',
    'Yjs 13.6.33 + y-protocols 1.0.7 over ws, as y-websocket syncs: A sets one Y.Map entry per transaction and sends',
    'each update at once as a sync message, a frame each; B reads each into its Y.Doc with readSyncMessage (no relay,',
    "no awareness) and holds an op once Y.getState of A's client passes it.",
    'The raw pipe and Yjs stop sending while ws buffers over 1 MiB and resume at 256 KiB, as the Driftless transport.',
    'Times in A and in B are read on CLOCK_MONOTONIC (process.hrtime), which every process on the machine shares;',
    `each probe checks that a node's clock reads between two of the parent's: ${clock.probes} probes, ${clock.violations} out of order.`,
    ...(ran.throughput
      ? [
          `1  From A's first timed write call until B holds all ${formatCount(settings.writes)}: median of ${settings.reps} trials per system,`,
          '   interleaved.',
        ]
      : []),
    ...(ran.latency
      ? [
          `2  A writes ${formatCount(settings.latencyRatePerS)}/s for ${settings.latencySeconds} s: on each ~1 ms timer turn every write due by then, each timed at its`,
          "   call (the raw pipe sends a turn's writes as one frame). B notes when each op becomes held (Driftless: durable",
          "   in B's log, applied to its state); latency = B's time − A's time on the shared clock. Percentiles over every",
          `   write of a trial, median of ${settings.latencyReps} trial(s).`,
          ...latencyNotes(results),
        ]
      : []),
    ...(ran.throughput || ran.latency
      ? [
          `3  Bytes A handed ws during the timed part of (1) (3d: of (2)) ÷ writes: each frame's payload + its RFC 6455`,
          '   header (A dialed, so +4 B mask). Driftless: every frame (OPS, ACK, PING); Yjs: its sync messages. No TCP/IP.',
          ...returnBytesNotes(results),
          ...commitNotes(results),
        ]
      : []),
    ...(ran.mesh
      ? [
          '4  Three Driftless nodes on memory stores, three processes, every pair connected (a dials b and c, b dials c);',
          `   a writes ${formatCount(settings.meshWrites)} as in (1). Once b and c hold them all and what they received stops growing:`,
          "   duplicates ÷ ops received from peers, counted where the node's Replicator hands ops to its replica (over every",
          '   session: the same as Σ stats.opsDuplicate ÷ Σ stats.opsReceived of Replicator.status(), which restarts at zero',
          '   for a session that is replaced, shown below).',
          ...meshNotes(results),
        ]
      : []),
    ...disconnectNotes(results),
    "Costs: each process's CPU time (process.cpuUsage, all threads) between probes just before and just after the",
    "measured part; the main thread's GC pauses in it (perf_hooks 'gc' entries), in all and how many lasted",
    `${LONG_GC_PAUSE_MS} ms or more; peak RSS over the process's life (A's includes its workload); heap when the part`,
    'ended. On a shared machine CPU per op is steadier than ops/s, which depends on the CPU share the processes get.',
    ...(settings.built
      ? ['Driftless ran from its tsc-built dist/ (--built); the harness from sources through tsx.']
      : SOURCE_NOTES),
  ];
}

/** What B sent back per op, for Driftless (ACKs) and the baselines (nothing but the handshake). */
function returnBytesNotes(results: SyncResults): string[] {
  const parts: string[] = [];
  for (const [system, runs] of results.throughput) {
    const run = runs[0];
    if (run === undefined) continue;
    parts.push(
      `${system} ${(run.returned.sentBytes / run.ops).toFixed(2)} B/op in ${run.returned.sentFrames} frames`,
    );
  }
  if (parts.length === 0) return [];
  return [`   What B sent back during (1), first trial: ${parts.join('; ')}.`];
}

/** Each mesh node's sessions: received and duplicate ops per peer. */
function meshNotes(results: SyncResults): string[] {
  const mesh = results.mesh;
  if (mesh === undefined) return [];
  return Object.entries(mesh.peers).flatMap(([node, peers]) => {
    const counts = mesh.counts[node];
    const total =
      counts === undefined
        ? ''
        : `${counts.received.toLocaleString('en-US')} received, ${(counts.received - counts.fresh).toLocaleString('en-US')} duplicate; `;
    return [
      `   at ${node}: ${total}status(): ${peers.map(describePeer).join('; ')} ` +
        `(${(100 * duplicateShare(peers)).toFixed(1)}%)`,
    ];
  });
}

/** Sessions that closed during any trial: each one a reconnection the figures include. */
function disconnectNotes(results: SyncResults): string[] {
  const all = [
    ...[...results.throughput.values()].flat().flatMap((run) => run.disconnects),
    ...[...results.latency.values()].flat().flatMap((run) => run.disconnects),
    ...(results.mesh?.disconnects ?? []),
  ];
  if (all.length === 0) return ['No Driftless session closed during any trial.'];
  const shown = all.slice(0, 8);
  return [
    `Driftless sessions that closed during the trials (${all.length}${all.length > shown.length ? `, first ${shown.length}` : ''}):`,
    ...shown.map((line) => `   ${line.length > 110 ? `${line.slice(0, 109)}…` : line}`),
  ];
}

function describePeer(peer: PeerCounters): string {
  return (
    `${peer.nodeId ?? '?'} ${peer.opsReceived.toLocaleString('en-US')} in (` +
    `${peer.opsDuplicate.toLocaleString('en-US')} dup.), ${peer.opsSent.toLocaleString('en-US')} out`
  );
}

/** The rates A achieved in (2), and what one synced LMDB commit took alone. */
function latencyNotes(results: SyncResults): string[] {
  const rates = [...results.latency].map(
    ([system, runs]) =>
      `${system} ${runs.map((run) => Math.round(run.achievedPerS).toLocaleString('en-US')).join(', ')}`,
  );
  const lines = rates.length === 0 ? [] : [`   Writes/s A achieved: ${rates.join('; ')}.`];
  const commit = results.lmdbCommit;
  if (commit !== undefined) {
    lines.push(
      `   One synced LMDB commit alone (a 1 KiB log entry + ten 80 B state entries, ${commit.commits} in a row) took`,
      `   p50 ${commit.p50.toFixed(2)} ms, p99 ${commit.p99.toFixed(2)} ms here: each LMDB hop (A's commit, B's commit) costs one.`,
    );
  }
  return lines;
}

/** The store commits A and B made in the first trial of (1) and of (2), per Driftless system. */
function commitNotes(results: SyncResults): string[] {
  const lines: string[] = [];
  const describe = (part: string, system: string, run: { ops: number; commits: Commits } | undefined) => {
    if (run === undefined || run.commits.a === undefined || run.commits.b === undefined) return;
    const side = (name: string, stats: StoreStats) =>
      `${name} ${stats.commits.toLocaleString('en-US')} commits of ${(run.ops / Math.max(1, stats.commits)).toFixed(0)} ops (` +
      `${(stats.writes / Math.max(1, stats.commits)).toFixed(0)} store writes), ` +
      `${(stats.commitMs / Math.max(1, stats.commits)).toFixed(2)} ms each on average, at most ${stats.maxCommitMs.toFixed(1)} ms`;
    lines.push(
      `   ${part} ${system}:`,
      `     ${side('A', run.commits.a)};`,
      `     ${side('B', run.commits.b)}.`,
    );
  };
  for (const [system, runs] of results.throughput) describe('Store commits in (1),', system, runs[0]);
  for (const [system, runs] of results.latency) describe('Store commits in (2),', system, runs[0]);
  return lines;
}
