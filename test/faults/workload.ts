/**
 * The client workload of a fault schedule: sequential clients, two per node, each mostly on its
 * home node and sometimes on another, issuing every kind of operation on a small set of shared
 * keys so that writes conflict. Half the clients are sessions: they present the token of their
 * last answer (`after=`) on every read and on some writes.
 *
 * Every value is unique (`{ w: "<client>.<n>" }`, set elements `<client>.<n>`), so the checker
 * can tell which write any value came from. Counters are never deleted: their final value must be
 * the sum of their increments.
 */
import { type ClientRequest, perform } from './client-request.js';
import type { AckMode, History, OpKind } from './history.js';

/** The collections the workload writes, one type each. */
export const WORKLOAD_COLLECTIONS = {
  registers: 'put',
  docs: 'patch',
  counters: 'incr',
  sets: 'add',
} as const;
/** Keys per collection: few, so writes conflict. */
export const KEYS_PER_COLLECTION = 3;

/** Every key the workload may touch, for the final reads. */
export function workloadKeys(): { collection: string; key: string }[] {
  return Object.keys(WORKLOAD_COLLECTIONS).flatMap((collection) =>
    Array.from({ length: KEYS_PER_COLLECTION }, (_, i) => ({ collection, key: `k${i}` })),
  );
}

/** How the workload runs. */
export interface WorkloadOptions {
  readonly history: History;
  readonly ids: readonly string[];
  readonly urlOf: (id: string) => string;
  /** One seeded random stream per client. */
  readonly randomFor: (client: number) => () => number;
  /** Clients stop invoking at this time of the history's clock. */
  readonly untilMs: number;
  /** A request's limit (longer than the nodes' ack and read timeouts). */
  readonly requestTimeoutMs: number;
  readonly clientsPerNode: number;
}

const INCREMENTS = [1, 2, 3, 5, -1, -2];
const ACKS: readonly AckMode[] = ['local', 'local', 'local', 1, 2, 2, 'all'];

/** Runs every client until `untilMs`; resolves when the last operation completed. */
export async function runWorkload(options: WorkloadOptions): Promise<void> {
  const clients = options.ids.flatMap((home, n) =>
    Array.from({ length: options.clientsPerNode }, (_, c) => ({
      home,
      index: n * options.clientsPerNode + c,
    })),
  );
  await Promise.all(clients.map((client) => runClient(options, client.home, client.index)));
}

async function runClient(options: WorkloadOptions, home: string, index: number): Promise<void> {
  const random = options.randomFor(index);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const client = `c${index}`;
  const session = index % 2 === 1;
  const seen = new Map<string, Set<string>>();
  let token: string | undefined;
  for (let n = 0; options.history.now() < options.untilMs; n++) {
    const node = random() < 0.75 ? home : pick(options.ids);
    const collection = pick(Object.keys(WORKLOAD_COLLECTIONS)) as keyof typeof WORKLOAD_COLLECTIONS;
    const key = `k${Math.floor(random() * KEYS_PER_COLLECTION)}`;
    const unique = `${client}.${n}`;
    const known = [...(seen.get(`${collection}/${key}`) ?? [])];
    const kind = chooseKind(random(), collection, known.length > 0);
    const arg =
      kind === 'put'
        ? { w: unique }
        : kind === 'patch'
          ? { [`f${Math.floor(random() * 3)}`]: random() < 0.15 ? null : unique }
          : kind === 'incr'
            ? pick(INCREMENTS)
            : kind === 'add'
              ? unique
              : kind === 'remove'
                ? pick(known)
                : undefined;
    const withToken = session && token !== undefined && (kind === 'read' || random() < 0.5);
    const request: ClientRequest = {
      client,
      session,
      node,
      kind,
      collection,
      key,
      ...(arg !== undefined ? { arg } : {}),
      ...(kind !== 'read' ? { ack: pick(ACKS) } : {}),
      ...(withToken && token !== undefined ? { token } : {}),
    };
    const { operation, token: answered } = await perform(
      options.history,
      options.urlOf(node),
      request,
      options.requestTimeoutMs,
    );
    if (answered !== undefined && operation.outcome === 'ok') token = answered;
    // Elements this client added or saw are the ones it may remove.
    const elements = seen.get(`${collection}/${key}`) ?? new Set<string>();
    if (kind === 'add') elements.add(arg as string);
    if (kind === 'read' && operation.read?.type === 'set') {
      for (const element of operation.read.value as string[]) elements.add(element);
    }
    seen.set(`${collection}/${key}`, elements);
    await new Promise((resolve) => setTimeout(resolve, random() * 30));
  }
}

/** Reads 40%; otherwise the collection's write, or a delete (never of counters), or a remove. */
function chooseKind(roll: number, collection: keyof typeof WORKLOAD_COLLECTIONS, canRemove: boolean): OpKind {
  if (roll < 0.4) return 'read';
  if (collection !== 'counters' && roll > 0.93) return 'del';
  if (collection === 'sets' && canRemove && roll > 0.75) return 'remove';
  return WORKLOAD_COLLECTIONS[collection];
}
