/**
 * What the replicator contract tests share: a write of a plain value, a peer's live status row, and a
 * transport wrapper that records every frame and close reason on the wire.
 */
import type { Connection, PeerStatus, Transport } from '../src/index.js';
import type { TestNode } from './test-nodes.js';

/** Writes `value` (by default the key itself) at `key` of collection `c` on node `n`. */
export const write = (n: TestNode, key: string, value: string | Uint8Array = key) =>
  n.store.write('c', key, { kind: 'set', value });

/** `n`'s status row for `peer`, while a session with it is up. */
export const rowOf = (n: TestNode, peer: string): PeerStatus | undefined =>
  n.replicator.status().find((row) => row.nodeId === peer && row.state !== 'disconnected');

/** What a recording transport saw: every frame each way and every close reason. */
export interface Wire {
  readonly sent: Uint8Array[];
  readonly received: Uint8Array[];
  readonly closeReasons: string[];
}

/** Wraps `inner` so that every connection it dials or accepts records its traffic in `wire`. */
export function recording(wire: Wire): (inner: Transport) => Transport {
  const wrap = (connection: Connection): Connection => ({
    get label() {
      return connection.label;
    },
    get bufferedBytes() {
      return connection.bufferedBytes;
    },
    open: (handlers) =>
      connection.open({
        message: (frame) => {
          wire.received.push(frame.slice());
          handlers.message(frame);
        },
        drain: () => handlers.drain(),
        close: (code, reason) => {
          wire.closeReasons.push(reason);
          handlers.close(code, reason);
        },
      }),
    send: (frame) => {
      wire.sent.push(frame.slice());
      return connection.send(frame);
    },
    pause: () => connection.pause(),
    resume: () => connection.resume(),
    close: (code, reason) => {
      wire.closeReasons.push(reason);
      connection.close(code, reason);
    },
  });
  return (inner) => ({
    dial: async (url, options) => wrap(await inner.dial(url, options)),
    listen: (address, onConnection) => inner.listen(address, (connection) => onConnection(wrap(connection))),
  });
}

/** An empty Wire, to record into. */
export const newWire = (): Wire => ({ sent: [], received: [], closeReasons: [] });
