import type { VersionVector } from '@driftless/core';

/**
 * What the vectors of a handshake say about lost data. A node's log holds every op of its own
 * origin it ever made durable, and an op leaves its origin only once durable there: a peer that
 * holds more of a node's own origin than the node itself means the node lost data (its store was
 * wiped, or restored from an older backup). Its next write would then take a seq that one of those
 * ops already has, and every replica holding that op would drop the write as one it knows.
 *
 * Both ends see it: the node that lost its ops ('rewound') and the peer that holds them
 * ('peer-rewound'). A node that wrote more ops since the loss than it lost shows no gap, and is
 * not caught here.
 */
export type OriginEvent =
  /** This node's log ends at `own` of its own origin; `peer` holds up to `held`. */
  | { readonly type: 'rewound'; readonly peer: string; readonly held: number; readonly own: number }
  /** `peer`'s log ends at `own` of its own origin; this node holds up to `held`. */
  | { readonly type: 'peer-rewound'; readonly peer: string; readonly held: number; readonly own: number };

/** The OriginEvents of a handshake between node `me` (vector `ours`) and `peer` (vector `theirs`). */
export function originEvents(
  me: string,
  ours: VersionVector,
  peer: string,
  theirs: VersionVector,
): OriginEvent[] {
  const events: OriginEvent[] = [];
  if (theirs.get(me) > ours.get(me))
    events.push({ type: 'rewound', peer, held: theirs.get(me), own: ours.get(me) });
  if (ours.get(peer) > theirs.get(peer))
    events.push({ type: 'peer-rewound', peer, held: ours.get(peer), own: theirs.get(peer) });
  return events;
}

/** Why a node that lost ops of its own origin refuses writes, and what its operator can do. */
export function rewoundMessage(me: string, { peer, held, own }: OriginEvent): string {
  return (
    `peer ${peer} holds ops of this node's origin up to ${me}:${held}, but this node's log ends at ` +
    `${me}:${own}: its data was lost or restored from an older backup, and a new write would reuse ` +
    'a seq those ops hold. The node refuses writes: restore its latest data, or start it with an ' +
    'empty data directory under a new node id'
  );
}
