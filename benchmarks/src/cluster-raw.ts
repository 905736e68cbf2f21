import { createHash } from 'node:crypto';
import { pack, unpack } from 'msgpackr';
import { MeshPeer } from './cluster-mesh.js';
import { relays } from './cluster-spec.js';
import { type ClusterWrite, KV_COLLECTION, nodeIdOf, TEXT_COLLECTION, TEXT_KEY } from './cluster-workload.js';
import type { RawOp as SyncRawOp } from './sync-raw.js';
import type { CountedSocket } from './sync-ws.js';

/**
 * The raw pipe as a cluster node, the ceiling of the convergence scenarios: the raw pipe of the
 * replication benchmarks (sync-raw.ts: plain op objects packed by msgpackr, a batch per frame)
 * made multi-writer. Each node keeps its ops in an array (no store), applies what it receives in
 * each origin's order (a Map of last-writer-wins registers by Lamport time then origin, a Map of
 * counter sums; text edits are only counted: no document is built), and on each new link sends
 * the ops the peer's hello says it lacks. No validation, no acknowledgement, no compaction.
 */

/** A write as it travels (sync-raw.ts's op): [0, value] set, [1, delta] increment, [2, pos, del, text] edit. */
type RawOp = SyncRawOp<readonly unknown[]>;

/** Frames: a hello with the sender's per-origin counts, or a batch of ops. */
const HELLO = 0;
const OPS = 1;

/** A raw-pipe cluster node. */
export class RawPeer extends MeshPeer {
  readonly #vector = new Map<string, number>();
  readonly #log: RawOp[] = [];
  readonly #registers = new Map<string, readonly [number, string, unknown]>();
  readonly #counters = new Map<string, number>();
  #lamport = 0;
  #pending: RawOp[] = [];

  get held(): number {
    let held = 0;
    for (const count of this.#vector.values()) held += count;
    return held;
  }

  heldFrom(origin: string): number {
    return this.#vector.get(origin) ?? 0;
  }

  protected apply(write: ClusterWrite): void {
    const origin = nodeIdOf(this.spec.index);
    const seq = this.heldFrom(origin) + 1;
    const hlc = ++this.#lamport;
    const op: RawOp =
      write.kind === 'text'
        ? {
            origin,
            seq,
            hlc,
            collection: TEXT_COLLECTION,
            key: TEXT_KEY,
            mutation: [2, write.pos, write.del, write.text],
          }
        : write.kind === 'set'
          ? { origin, seq, hlc, collection: KV_COLLECTION, key: write.key, mutation: [0, write.value] }
          : { origin, seq, hlc, collection: KV_COLLECTION, key: write.key, mutation: [1, write.delta] };
    this.#admit(op);
    this.#pending.push(op);
  }

  /** Applies an op that is next of its origin; false for one already held or out of order. */
  #admit(op: RawOp): boolean {
    if (op.seq !== (this.#vector.get(op.origin) ?? 0) + 1) return false;
    this.#vector.set(op.origin, op.seq);
    this.#lamport = Math.max(this.#lamport, op.hlc);
    this.#log.push(op);
    const [kind, value] = op.mutation;
    if (kind === 0) {
      const current = this.#registers.get(op.key);
      if (current === undefined || current[0] < op.hlc || (current[0] === op.hlc && current[1] < op.origin))
        this.#registers.set(op.key, [op.hlc, op.origin, value]);
    } else if (kind === 1) {
      this.#counters.set(op.key, (this.#counters.get(op.key) ?? 0) + (value as number));
    }
    return true;
  }

  protected opened(link: CountedSocket): void {
    link.send(pack([HELLO, Object.fromEntries(this.#vector)]));
  }

  protected received(link: CountedSocket, frame: Buffer): void {
    const [type, body] = unpack(frame) as [number, unknown];
    if (type === HELLO) {
      const theirs = body as Record<string, number>;
      const own = nodeIdOf(this.spec.index);
      // In a mesh every writer reaches every node itself: send only this node's own ops.
      const lacking = this.#log.filter(
        (op) => op.seq > (theirs[op.origin] ?? 0) && (relays(this.spec) || op.origin === own),
      );
      for (let start = 0; start < lacking.length; start += 1000)
        link.send(pack([OPS, lacking.slice(start, start + 1000)]));
      return;
    }
    const fresh = (body as RawOp[]).filter((op) => this.#admit(op));
    if (fresh.length === 0) return;
    if (relays(this.spec)) this.broadcast(pack([OPS, fresh]), link);
    this.grew();
  }

  protected flush(): void {
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    this.broadcast(pack([OPS, batch]));
  }

  digest(): string {
    const hash = createHash('sha256');
    const sorted = <V>(map: Map<string, V>) => [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    hash.update(JSON.stringify(sorted(this.#registers).map(([key, [, , value]]) => [key, value])));
    hash.update(JSON.stringify(sorted(this.#counters)));
    hash.update(JSON.stringify([...this.#vector].sort()));
    return hash.digest('hex');
  }

  protected save(): Uint8Array {
    return pack(this.#log);
  }

  protected load(bytes: Uint8Array): void {
    for (const op of unpack(bytes) as RawOp[]) this.#admit(op);
  }
}
