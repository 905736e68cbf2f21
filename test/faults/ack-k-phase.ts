/**
 * The `ack=k` phase at the end of a schedule (DESIGN.md guarantee 3: a write acknowledged with
 * `ack: k` survives the loss of its node plus any k-1 others). Node X is partitioned with exactly
 * k peers, so every acknowledgement comes from them; X writes set adds and increments with
 * `ack=k`; then X and k-1 of those peers are destroyed (SIGKILL and their data deleted) and the
 * network healed. The one peer left must hand every such write to the rest of the cluster.
 */
import { perform } from './client-request.js';
import type { FaultCluster } from './fault-cluster.js';
import type { FinalObservation, History } from './history.js';
import { observe } from './observe.js';

/** The k of the phase. */
export const ACK_K = 2;
/** Writes X makes before it is destroyed. */
const WRITES = 12;

/** Runs the phase on `cluster`; resolves with the nodes destroyed and the survivors' state. */
export async function runAckKPhase(
  cluster: FaultCluster,
  history: History,
  random: () => number,
  requestTimeoutMs: number,
): Promise<{ dead: string[]; observation: FinalObservation & { converged: boolean } }> {
  const ids = [...cluster.ids];
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [ids[i], ids[j]] = [ids[j] as string, ids[i] as string];
  }
  const [origin, ...rest] = ids as [string, ...string[]];
  const holders = rest.slice(0, ACK_K);
  cluster.partition([[origin, ...holders], rest.slice(ACK_K)], true);
  for (let n = 0; n < WRITES; n++) {
    const counter = n % 3 === 2;
    await perform(
      history,
      cluster.url(origin),
      {
        client: 'ackk',
        session: false,
        node: origin,
        kind: counter ? 'incr' : 'add',
        collection: counter ? 'counters' : 'sets',
        key: `k${n % 3}`,
        arg: counter ? 1 + n : `ackk.${n}`,
        ack: ACK_K,
      },
      requestTimeoutMs * 2,
    );
  }
  // The origin and k-1 of the peers that acknowledged: one holder is left.
  const dead = [origin, ...holders.slice(0, ACK_K - 1)];
  for (const id of dead) await cluster.destroy(id);
  cluster.healNetwork();
  const survivors = cluster.ids.filter((id) => !dead.includes(id));
  const observation = await observe(
    cluster,
    history,
    survivors,
    dead,
    `after destroying ${dead.join(' and ')}`,
  );
  return { dead, observation };
}
