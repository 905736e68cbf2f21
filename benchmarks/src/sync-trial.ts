import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbStore } from '@driftless/core/lmdb';
import type { ChildOptions, Requests, StoreStats, SystemName, Usage } from './sync-ipc.js';
import { type NodeProcess, type SpawnSettings, spawnAll, withNodes } from './sync-process.js';
import { monotonicMs, NODE_A, NODE_B, percentiles, type Traffic } from './sync-workload.js';

/**
 * The trials of the replication benchmarks, run from the parent: each starts fresh node processes
 * (and fresh stores), warms them up with WARM_OPS untimed writes that B must hold first, measures
 * one thing, and ends them (the mesh of three: sync-mesh-trial.ts). Times come from the node
 * processes (A's first write, B's arrival), on the one monotonic clock they share.
 */

/** How trials run. */
export interface TrialSettings extends SpawnSettings {
  /** Untimed writes first: JIT warm-up, and connections past their first frames. */
  readonly warmOps: number;
  /** Driftless writes A keeps in flight. */
  readonly window: number;
}

/** What one process cost over the measured part of a trial. */
export interface ProcessCost {
  /** `driftless-memory A`. */
  readonly name: string;
  readonly userMs: number;
  readonly systemMs: number;
  /** The largest resident set over the process's whole life. */
  readonly maxRssMiB: number;
  /** The JS heap in use when the measured part ended. */
  readonly heapUsedMiB: number;
  readonly externalMiB: number;
  /** The main thread's GC pauses: their total time, and how many were long (LONG_GC_PAUSE_MS). */
  readonly gcMs: number;
  readonly gcLongPauses: number;
}

/** One throughput trial. */
export interface ThroughputRun {
  readonly system: SystemName;
  readonly ops: number;
  /** Ops over the time from A's first timed write until B held them all. */
  readonly opsPerS: number;
  /** What A put on its WebSocket during the timed part. */
  readonly sent: Traffic;
  /** What B put on its WebSocket during the timed part (Driftless: ACKs; Yjs and raw: nothing). */
  readonly returned: Traffic;
  readonly costs: readonly ProcessCost[];
  /** Driftless: the store commits A and B made during the timed part. */
  readonly commits: Commits;
  /** Driftless sessions that closed during the trial. */
  readonly disconnects: readonly string[];
}

/** One latency trial. */
export interface LatencyRun {
  readonly system: SystemName;
  readonly ops: number;
  /** The rate A achieved (ops over the time it spent writing). */
  readonly achievedPerS: number;
  /** Milliseconds from A's write call to B holding the op, for each op. */
  readonly latenciesMs: Float64Array;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  /** Driftless: the p99 of the time from A's write call until the write was durable in A's own log. */
  readonly localP99: number | undefined;
  /**
   * Driftless: the p99 of the rest, from the write durable at A until B held it, which is all a
   * write would wait if A sent it before its own commit. A notes a write durable when its promise
   * resolves, which may be after its frame left: this reads a little short, never long.
   */
  readonly hopP99: number | undefined;
  readonly sent: Traffic;
  readonly costs: readonly ProcessCost[];
  readonly commits: Commits;
  readonly disconnects: readonly string[];
}

/** Driftless: the store commits of A and of B over the measured part (undefined for the baselines). */
export interface Commits {
  readonly a: StoreStats | undefined;
  readonly b: StoreStats | undefined;
}

/** How far apart two nodes' and the parent's clocks were found (see `probe`). */
export const clockCheck = { probes: 0, violations: 0, widestMs: 0 };

/** What a probe answers. */
export type Probe = Requests['probe']['result'];

/**
 * Probes a node: its clock must read between the parent's before and after (the processes share
 * CLOCK_MONOTONIC, so this holds unless they do not); counted in `clockCheck`.
 */
export async function probe(node: NodeProcess): Promise<Probe> {
  const before = monotonicMs();
  const result = await node.request('probe', {});
  const after = monotonicMs();
  clockCheck.probes++;
  clockCheck.widestMs = Math.max(clockCheck.widestMs, after - before);
  if (result.nowMs < before || result.nowMs > after) clockCheck.violations++;
  return result;
}

/** What `name` cost between two probes. */
export function costOf(name: string, before: Usage, after: Usage): ProcessCost {
  return {
    name,
    userMs: after.userMs - before.userMs,
    systemMs: after.systemMs - before.systemMs,
    maxRssMiB: after.maxRssMiB,
    heapUsedMiB: after.heapUsedMiB,
    externalMiB: after.externalMiB,
    gcMs: after.gcMs - before.gcMs,
    gcLongPauses: after.gcLongPauses - before.gcLongPauses,
  };
}

/** The traffic between two readings. */
export function trafficDelta(before: Traffic, after: Traffic): Traffic {
  return {
    sentFrames: after.sentFrames - before.sentFrames,
    sentBytes: after.sentBytes - before.sentBytes,
    receivedFrames: after.receivedFrames - before.receivedFrames,
    receivedBytes: after.receivedBytes - before.receivedBytes,
  };
}

function storeDelta(before: StoreStats | undefined, after: StoreStats | undefined): StoreStats | undefined {
  if (before === undefined || after === undefined) return undefined;
  return {
    commits: after.commits - before.commits,
    writes: after.writes - before.writes,
    commitMs: after.commitMs - before.commitMs,
    // The largest over the node's life: a benchmark process barely commits outside the measured part.
    maxCommitMs: after.maxCommitMs,
  };
}

/** The commits A and B made between two probes of each. */
function commitsBetween(aBefore: Probe, bBefore: Probe, aAfter: Probe, bAfter: Probe): Commits {
  return { a: storeDelta(aBefore.store, aAfter.store), b: storeDelta(bBefore.store, bAfter.store) };
}

/** Runs `work` with a fresh temporary directory for LMDB stores, removed afterwards. */
export async function inTempDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'driftless-sync-bench-'));
  try {
    return await work(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A sender A and a receiver B of `system`; A makes `ops` ops and dials B. */
function startPair(
  system: SystemName,
  ops: number,
  dir: string,
  settings: TrialSettings,
): Promise<NodeProcess[]> {
  const base = (role: ChildOptions['role'], nodeId: string) => ({
    system,
    role,
    nodeId,
    window: settings.window,
    dir: system === 'driftless-lmdb' ? join(dir, nodeId) : undefined,
  });
  return spawnAll(
    [
      {
        name: `${system} B`,
        options: () => ({ ...base('receiver', NODE_B), listen: true, peers: [], ops: 0 }),
      },
      {
        name: `${system} A`,
        options: ([b]) => ({ ...base('sender', NODE_A), listen: false, peers: [b?.url as string], ops }),
      },
    ],
    settings,
  );
}

/** Connects A to B and runs the untimed warm-up writes. */
async function warmUp(a: NodeProcess, b: NodeProcess, warmOps: number): Promise<void> {
  await a.request('connected', { peers: 1 });
  await Promise.all([b.request('hold', { count: warmOps }), a.request('burst', { from: 0, to: warmOps })]);
  // Let the warm-up's last frames, acks and collections settle before anything is timed.
  await new Promise((resolve) => setTimeout(resolve, 100));
}

/** Throughput: A writes `ops` ops as fast as it can; timed until B holds them all. */
export function runThroughput(
  system: SystemName,
  ops: number,
  settings: TrialSettings,
): Promise<ThroughputRun> {
  const { warmOps } = settings;
  return inTempDir(async (dir) => {
    const [b, a] = (await startPair(system, warmOps + ops, dir, settings)) as [NodeProcess, NodeProcess];
    return withNodes([a, b], async () => {
      await warmUp(a, b, warmOps);
      const [aBefore, bBefore] = await Promise.all([probe(a), probe(b)]);
      const [held, written] = await Promise.all([
        b.request('hold', { count: warmOps + ops }),
        a.request('burst', { from: warmOps, to: warmOps + ops }),
      ]);
      const [aAfter, bAfter] = await Promise.all([probe(a), probe(b)]);
      return {
        system,
        ops,
        opsPerS: ops / ((held.atMs - written.startMs) / 1000),
        sent: trafficDelta(aBefore.traffic, aAfter.traffic),
        returned: trafficDelta(bBefore.traffic, bAfter.traffic),
        costs: [costOf(a.name, aBefore.usage, aAfter.usage), costOf(b.name, bBefore.usage, bAfter.usage)],
        commits: commitsBetween(aBefore, bBefore, aAfter, bAfter),
        disconnects: [
          ...aAfter.disconnects.map((line) => `${a.name}: ${line}`),
          ...bAfter.disconnects.map((line) => `${b.name}: ${line}`),
        ],
      };
    });
  });
}

/** Latency: A writes at `ratePerS` for `seconds`; each op timed from A's write call until B holds it. */
export function runLatency(
  system: SystemName,
  ratePerS: number,
  seconds: number,
  settings: TrialSettings,
): Promise<LatencyRun> {
  const { warmOps } = settings;
  const ops = Math.round(ratePerS * seconds);
  const record = { from: warmOps, to: warmOps + ops };
  return inTempDir(async (dir) => {
    const [b, a] = (await startPair(system, warmOps + ops, dir, settings)) as [NodeProcess, NodeProcess];
    return withNodes([a, b], async () => {
      await warmUp(a, b, warmOps);
      const [aBefore, bBefore] = await Promise.all([probe(a), probe(b)]);
      const [held, paced] = await Promise.all([
        b.request('hold', { count: warmOps + ops, record }),
        a.request('paced', { ...record, ratePerS }),
      ]);
      const [aAfter, bAfter] = await Promise.all([probe(a), probe(b)]);
      const arrivals = held.arrivals;
      if (arrivals === undefined) throw new Error(`${b.name} recorded no arrivals`);
      const latenciesMs = new Float64Array(ops);
      for (let i = 0; i < ops; i++) {
        const latency = (arrivals[i] as number) - (paced.times[i] as number);
        if (!(latency >= 0)) throw new Error(`${system}: op ${warmOps + i} arrived before it was written`);
        latenciesMs[i] = latency;
      }
      const [p50, p95, p99, max] = percentiles(latenciesMs, [0.5, 0.95, 0.99, 1]) as [
        number,
        number,
        number,
        number,
      ];
      return {
        system,
        ops,
        achievedPerS: ops / ((paced.endMs - paced.startMs) / 1000),
        latenciesMs,
        p50,
        p95,
        p99,
        max,
        localP99:
          paced.written === undefined
            ? undefined
            : p99Between(paced.written, paced.times, 'a write was durable before it was written'),
        hopP99: paced.written === undefined ? undefined : p99Between(arrivals, paced.written),
        sent: trafficDelta(aBefore.traffic, aAfter.traffic),
        costs: [costOf(a.name, aBefore.usage, aAfter.usage), costOf(b.name, bBefore.usage, bAfter.usage)],
        commits: commitsBetween(aBefore, bBefore, aAfter, bAfter),
        disconnects: [
          ...aAfter.disconnects.map((line) => `${a.name}: ${line}`),
          ...bAfter.disconnects.map((line) => `${b.name}: ${line}`),
        ],
      };
    });
  });
}

/** The p99 of `ends[i] - starts[i]`; throws `orderError` for a negative one when it is given. */
function p99Between(ends: ArrayLike<number>, starts: Float64Array, orderError?: string): number {
  const spans = starts.map((at, i) => (ends[i] as number) - at);
  if (orderError !== undefined && !spans.every((ms) => ms >= 0)) throw new Error(orderError);
  return percentiles(spans, [0.99])[0] as number;
}

/** What one synced LMDB commit costs on this machine now: the floor under every LMDB hop of (2). */
export interface CommitLatency {
  readonly commits: number;
  readonly p50: number;
  readonly p99: number;
}

/**
 * Commits `commits` times, one after another, to a fresh LmdbStore what a small group commit of
 * the op log writes (a 1 KiB log entry and ten 80-byte state entries), timing each.
 */
export function measureLmdbCommits(commits: number): Promise<CommitLatency> {
  return inTempDir(async (dir) => {
    const store = await LmdbStore.open(dir);
    try {
      const times = new Float64Array(commits);
      for (let i = 0; i < commits; i++) {
        const writes = [{ table: 'log', key: i, value: new Uint8Array(1024) }];
        for (let key = 0; key < 10; key++)
          writes.push({ table: 'state', key: i * 10 + key, value: new Uint8Array(80) });
        const started = monotonicMs();
        await store.commit(writes);
        times[i] = monotonicMs() - started;
      }
      const [p50, p99] = percentiles(times, [0.5, 0.99]) as [number, number];
      return { commits, p50, p99 };
    } finally {
      await store.close();
    }
  });
}
