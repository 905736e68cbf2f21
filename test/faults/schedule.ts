/**
 * One fault schedule, start to verdict: a 5-node cluster behind proxies, the workload and the
 * nemesis for the schedule's duration, a full heal and the final reads, then the `ack=k` phase
 * (a node and k-1 peers destroyed for good), and the checker's judgement of the whole history.
 * Everything random comes from the seed, so a failing seed reruns the same plan of faults and the
 * same client choices (the timing of real processes still varies run to run).
 */
import { seededRandom } from '@driftless/core/testing';
import { runAckKPhase } from './ack-k-phase.js';
import { checkHistory, type Violation } from './checker.js';
import { explainDivergence } from './divergence.js';
import { FaultCluster } from './fault-cluster.js';
import { History, type Operation } from './history.js';
import { type FaultKind, noFaults, planFaults, runNemesis } from './nemesis.js';
import { observe } from './observe.js';
import { runWorkload } from './workload.js';

/** What a schedule runs with. */
export interface ScheduleOptions {
  readonly seed: number;
  /** How long clients and faults run before the final heal. */
  readonly durationMs: number;
  readonly nodes?: number;
  /** Called with progress lines (the soak script prints them). */
  readonly log?: (line: string) => void;
}

/** A schedule's verdict and what it did. */
export interface ScheduleResult {
  readonly seed: number;
  readonly operations: readonly Operation[];
  /** Faults injected, by kind. */
  readonly faults: Readonly<Record<FaultKind, number>>;
  readonly violations: readonly Violation[];
  /** Whether the survivors agreed after each heal (a false is also a `diverged` violation). */
  readonly converged: readonly boolean[];
}

/** Nodes' ack and read timeouts: short, so clients stuck behind a fault move on. */
const NODE_TIMEOUT_MS = 2_000;
const REQUEST_TIMEOUT_MS = 5_000;

/** Runs the schedule of `options.seed`; never throws for a violation, only reports it. */
export async function runFaultSchedule(options: ScheduleOptions): Promise<ScheduleResult> {
  const random = seededRandom(options.seed);
  const ids = Array.from({ length: options.nodes ?? 5 }, (_, i) => `n${i + 1}`);
  const plan = planFaults(random, ids, options.durationMs);
  const cluster = await FaultCluster.start({
    ids,
    random: seededRandom(options.seed ^ 0x5eed),
    timeoutMs: NODE_TIMEOUT_MS,
  });
  const faults: Record<FaultKind, number> = noFaults();
  const history = new History();
  try {
    await Promise.all([
      runNemesis(cluster, plan, () => history.now(), faults),
      runWorkload({
        history,
        ids,
        urlOf: (id) => cluster.url(id),
        randomFor: (client) => seededRandom(options.seed + 1 + client),
        untilMs: options.durationMs,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        clientsPerNode: 2,
      }),
    ]);
    options.log?.(`seed ${options.seed}: ${history.operations().length} operations; healing`);
    await cluster.healAll();
    const healed = await observe(cluster, history, ids, [], 'after the final heal');
    // Survivors that never agreed: name the keys they differ on (stopping them to read their stores).
    const explained = healed.converged ? [] : await explainDivergence(cluster, ids, healed.label, true);
    const phase = await runAckKPhase(cluster, history, random, NODE_TIMEOUT_MS);
    faults['destroy-nodes'] = phase.dead.length;
    const operations = history.operations();
    const { observation } = phase;
    if (!observation.converged) {
      const survivors = observation.survivors.map(({ node }) => node);
      explained.push(...(await explainDivergence(cluster, survivors, observation.label, false)));
    }
    const violations = [
      ...checkHistory(operations, [healed, observation]),
      ...explained,
      ...cluster.errorsLogged().map(
        ({ node, message }): Violation => ({
          kind: 'node-error',
          message: `${node} logged: ${message}`,
          operations: [],
        }),
      ),
    ];
    const converged = [healed.converged, phase.observation.converged];
    return { seed: options.seed, operations, faults, violations, converged };
  } finally {
    await cluster.close();
  }
}
