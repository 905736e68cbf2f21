import { DriftlessError, type Op, type OpTip, type VersionVector } from '@driftless/core';
import type { SyncReplica } from './replica.js';

/**
 * What a peer's AUTH vector says about this node's own origin. The node's log holds every op of its
 * own origin it ever made durable, and an op leaves its origin only once durable there: the peer
 * had each op of its vector before sending it, so each op of this node's origin in it was durable
 * here before. A vector holding more of this origin than the log means the node lost data (its
 * store was wiped, or restored from an older backup). Its next write would then take a seq that one
 * of those ops already has, and every replica holding that op would drop the write as one it knows.
 *
 * Only the node itself can tell. The peer cannot judge the node's vector by what it holds of the
 * node's origin: ops the node wrote after sending its vector may have reached the peer through
 * other nodes before the peer reads it (fault schedules 728957893 and 728957896 showed it).
 *
 * A node that wrote more ops since the loss than it lost shows no gap in its vector: the peer's AUTH
 * also carries its tip, the seq and timestamp of the last op of this node's origin it holds. This
 * node's own op at that seq is either the same op (the same timestamp: an op never changes) or a
 * new one that reuses the lost op's dot (tipCheck).
 */
export interface OriginEvent {
  readonly type: 'rewound';
  /** The peer whose vector showed it. */
  readonly peer: string;
  /** The highest seq of this node's origin the peer holds. */
  readonly held: number;
  /** The highest seq of this node's origin its log holds. */
  readonly own: number;
  /** Where the peer holds an op of this node's origin other than this node's own (see tipCheck). */
  readonly conflict?: number;
}

/** The OriginEvent of a handshake of node `me` (its log at `ours`) with `peer` (vector `theirs`). */
export function originCheck(
  me: string,
  ours: VersionVector,
  peer: string,
  theirs: VersionVector,
): OriginEvent | undefined {
  const held = theirs.get(me);
  const own = ours.get(me);
  return held > own ? { type: 'rewound', peer, held, own } : undefined;
}

/**
 * The OriginEvent when the peer's tip (see the module comment) is an op of this node's origin that
 * this node's log holds another op in place of. `ownTip` is the last op of this node's origin in its
 * log, and `ownAt` reads this node's op at a seq from its log (undefined once truncated: no check).
 */
export async function tipCheck(
  me: string,
  ours: VersionVector,
  peer: string,
  theirs: VersionVector,
  tip: OpTip | undefined,
  ownTip: OpTip | undefined,
  ownAt: (seq: number) => Promise<Op | undefined>,
): Promise<OriginEvent | undefined> {
  // A tip beyond this node's log is a gap, which originCheck reports.
  if (tip === undefined || tip.seq > ours.get(me)) return undefined;
  const hlc = ownTip?.seq === tip.seq ? ownTip.hlc : (await ownAt(tip.seq))?.hlc;
  if (hlc === undefined || hlc === tip.hlc) return undefined;
  return { type: 'rewound', peer, held: theirs.get(me), own: ours.get(me), conflict: tip.seq };
}

/** Why a node that lost ops of its own origin refuses writes, and what its operator can do. */
export function rewoundMessage(me: string, { peer, held, own, conflict }: OriginEvent): string {
  const found =
    conflict === undefined
      ? `peer ${peer} holds ops of this node's origin up to ${me}:${held}, but this node's log ends at ` +
        `${me}:${own}: its data was lost or restored from an older backup, and a new write would reuse ` +
        'a seq those ops hold'
      : `peer ${peer} holds an op ${me}:${conflict} other than the one this node's log holds under that ` +
        'dot: its data was lost or restored from an older backup, and it has written again under seqs ' +
        'its lost ops hold (every replica holding those drops these writes as known)';
  return (
    `${found}. The node refuses writes: restore its latest data, or start it with an empty data ` +
    'directory under a new node id'
  );
}

/**
 * What a node's handshakes showed about its own origin. Checks each authenticated peer's AUTH: its
 * vector at once (originCheck), its tip in the background (tipCheck reads this node's log), and
 * refuses the replica's local writes once either shows the node lost ops of its own origin.
 */
export class OriginGuard {
  readonly #replica: SyncReplica;
  readonly #onEvent: (event: OriginEvent) => void;
  #rewound: OriginEvent | undefined;

  constructor(replica: SyncReplica, onEvent: (event: OriginEvent) => void) {
    this.#replica = replica;
    this.#onEvent = onEvent;
  }

  /** The first event that showed it; the replica refuses local writes since. */
  get rewound(): OriginEvent | undefined {
    return this.#rewound;
  }

  /** Checks the AUTH vector and tip of `peer`. */
  check(peer: string, vector: VersionVector, tip: OpTip | undefined): void {
    const replica = this.#replica;
    const me = replica.nodeId;
    const gap = originCheck(me, replica.versionVector, peer, vector);
    if (gap) {
      this.#refuse(gap);
      return;
    }
    const ownAt = (seq: number) => replica.opAt?.(me, seq) ?? Promise.resolve(undefined);
    tipCheck(me, replica.versionVector, peer, vector, tip, replica.tipOf?.(me), ownAt).then(
      (conflict) => {
        if (conflict) this.#refuse(conflict);
      },
      // The log closed or failed while reading: the next handshake checks again.
      () => {},
    );
  }

  #refuse(event: OriginEvent): void {
    if (this.#rewound === undefined) {
      this.#rewound = event;
      const message = rewoundMessage(this.#replica.nodeId, event);
      this.#replica.refuseLocalWrites?.(new DriftlessError('ORIGIN_REWOUND', message));
    }
    this.#onEvent(event);
  }
}
