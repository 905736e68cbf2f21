/**
 * The nemesis: a seeded plan of faults over a schedule, and the code that injects and lifts each.
 * Two tracks run side by side, each one fault at a time: the network (partitions, cuts, latency,
 * slow links, dropped connections) and the processes and clocks (kills, pauses, skews, jumps).
 *
 * Clock skews stay within ±20 s: a node refuses a peer's timestamp more than `maxSkewMs` (60 s)
 * ahead of its own clock (CLOCK_SKEW, by design), so two nodes skewed opposite ways must stay
 * below that to be a fault the system promises to tolerate.
 */
import type { FaultCluster } from './fault-cluster.js';

/** Every fault the nemesis injects. */
export const FAULT_KINDS = [
  'partition-halves',
  'partition-minority',
  'partition-bridge',
  'one-way-cut',
  'latency',
  'slow-link',
  'drop-connections',
  'kill-restart',
  'pause',
  'clock-offset',
  'clock-jump',
  'restart-clock-back',
  'destroy-nodes',
] as const;

/** A kind of fault. */
export type FaultKind = (typeof FAULT_KINDS)[number];

const NETWORK: readonly FaultKind[] = FAULT_KINDS.slice(0, 7);
/** `destroy-nodes` is not planned here: the `ack=k` phase (ack-k-phase.ts) does it. */
const PROCESS: readonly FaultKind[] = FAULT_KINDS.slice(7, 12);

/** The largest clock skew injected, either way (see the module comment). */
export const MAX_CLOCK_SKEW_MS = 20_000;

/** One planned fault: what, when (ms from the start), for how long, on whom. */
export interface Fault {
  readonly kind: FaultKind;
  readonly atMs: number;
  readonly durationMs: number;
  /** The nodes it strikes; for a partition, its groups (nodes in none keep every link). */
  readonly groups: readonly (readonly string[])[];
  /** Partitions: drop and refuse connections (true), or stall them silently. */
  readonly loud: boolean;
  /** Clock faults: the offset in ms. Latency: the delay. Slow link: bytes per second. */
  readonly amount: number;
}

/** The seeded plan of faults for a schedule of `durationMs` on `ids`. */
export function planFaults(random: () => number, ids: readonly string[], durationMs: number): Fault[] {
  const faults: Fault[] = [];
  for (const kinds of [NETWORK, PROCESS]) {
    let atMs = 1_000 + random() * 2_000;
    while (atMs < durationMs - 3_000) {
      const kind = kinds[Math.floor(random() * kinds.length)] as FaultKind;
      // A quarter of network faults outlast the heartbeat timeout (15 s), so silent partitions
      // and one-way cuts are noticed and sessions torn down, not merely delayed.
      const long = kinds === NETWORK && random() < 0.25;
      const planned = long ? 12_000 + random() * 8_000 : 2_000 + random() * 6_000;
      const durationMsOf = Math.min(planned, durationMs - 1_000 - atMs);
      faults.push({ kind, atMs, durationMs: durationMsOf, ...shapeOf(kind, random, ids) });
      atMs += durationMsOf + 500 + random() * 2_000;
    }
  }
  return faults.sort((a, b) => a.atMs - b.atMs);
}

function shapeOf(
  kind: FaultKind,
  random: () => number,
  ids: readonly string[],
): Pick<Fault, 'groups' | 'loud' | 'amount'> {
  const shuffled = [...ids];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j] as string, shuffled[i] as string];
  }
  const loud = random() < 0.5;
  const half = Math.floor(ids.length / 2);
  const skew = Math.round((random() < 0.5 ? -1 : 1) * (2_000 + random() * (MAX_CLOCK_SKEW_MS - 2_000)));
  switch (kind) {
    case 'partition-halves':
      return { groups: [shuffled.slice(0, half), shuffled.slice(half)], loud, amount: 0 };
    case 'partition-minority':
      return { groups: [shuffled.slice(0, 1), shuffled.slice(1)], loud, amount: 0 };
    case 'partition-bridge':
      // The first node alone links the two sides.
      return { groups: [shuffled.slice(1, 1 + half), shuffled.slice(1 + half)], loud, amount: 0 };
    case 'one-way-cut':
      return {
        groups: [shuffled.slice(0, 1), shuffled.slice(1, 1 + Math.ceil(random() * (ids.length - 1)))],
        loud,
        amount: 0,
      };
    case 'latency':
      return { groups: [shuffled.slice(0, 2)], loud, amount: 20 + Math.round(random() * 200) };
    case 'slow-link':
      return { groups: [shuffled.slice(0, 2)], loud, amount: 2_000 + Math.round(random() * 30_000) };
    case 'clock-offset':
    case 'clock-jump':
      return { groups: [shuffled.slice(0, 1)], loud, amount: skew };
    case 'restart-clock-back':
      return { groups: [shuffled.slice(0, 1)], loud, amount: -Math.abs(skew) };
    default:
      return { groups: [shuffled.slice(0, 1)], loud, amount: 0 };
  }
}

/** Injects `fault`; resolves with what lifts it. */
export async function inject(cluster: FaultCluster, fault: Fault): Promise<() => Promise<void>> {
  const [first = [], second = []] = fault.groups;
  const node = first[0] as string;
  const healNetwork = async () => cluster.healNetwork();
  switch (fault.kind) {
    case 'partition-halves':
    case 'partition-minority':
    case 'partition-bridge':
      cluster.partition(fault.groups, fault.loud);
      return healNetwork;
    case 'one-way-cut':
      for (const to of second) cluster.cutOneWay(node, to);
      return healNetwork;
    case 'latency':
      cluster.shapeLink(node, first[1] as string, { latencyMs: fault.amount, jitterMs: fault.amount / 2 });
      return healNetwork;
    case 'slow-link':
      cluster.shapeLink(node, first[1] as string, { bytesPerSecond: fault.amount });
      return healNetwork;
    case 'drop-connections':
      for (const other of cluster.ids) if (other !== node) cluster.dropConnections(node, other);
      return healNetwork;
    case 'kill-restart':
      await cluster.kill(node);
      return () => cluster.startNode(node);
    case 'pause':
      cluster.pause(node);
      return async () => cluster.resume(node);
    case 'clock-offset':
    case 'clock-jump':
      // An offset is a node started skewed (the jump is instant here); a jump also jumps back.
      cluster.setClockOffset(node, fault.amount);
      return async () => {
        if (fault.kind === 'clock-jump') cluster.setClockOffset(node, 0);
      };
    case 'restart-clock-back':
      await cluster.kill(node);
      cluster.setClockOffset(node, fault.amount);
      await cluster.startNode(node);
      return async () => cluster.setClockOffset(node, 0);
    case 'destroy-nodes':
      for (const id of fault.groups.flat()) await cluster.destroy(id);
      return async () => {};
  }
}

/**
 * Runs `plan` against `cluster` from now on (times relative to `startMs` of `clock`), each fault
 * lifted after its duration; counts the faults injected by kind into `counts`.
 */
export async function runNemesis(
  cluster: FaultCluster,
  plan: readonly Fault[],
  clock: () => number,
  counts: Record<FaultKind, number>,
): Promise<void> {
  const tracks = [plan.filter((f) => NETWORK.includes(f.kind)), plan.filter((f) => PROCESS.includes(f.kind))];
  await Promise.all(
    tracks.map(async (faults) => {
      for (const fault of faults) {
        await sleep(fault.atMs - clock());
        const lift = await inject(cluster, fault);
        counts[fault.kind]++;
        await sleep(fault.atMs + fault.durationMs - clock());
        await lift();
      }
    }),
  );
}

/** Zero of every fault kind. */
export function noFaults(): Record<FaultKind, number> {
  return Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
