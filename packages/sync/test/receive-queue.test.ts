import { hlcFromWall, MemoryStore, type Op } from '@driftless/core';
import { FaultyStore } from '@driftless/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE_CODES, type Connection, encodeMessage, MemoryNetwork, type Transport } from '../src/index.js';
import { authenticatedPeer, node, stopNodes, type TestNode, until } from './test-nodes.js';

/**
 * The receiving end of a session applies each OPS frame as soon as the frame before it is applied,
 * not once it is durable: frames that arrive while a commit is under way are applied at once and
 * committed together. These tests hold the node's commits back to see it.
 */

afterEach(stopNodes);

const op = (origin: string, seq: number): Op => ({
  origin,
  seq,
  hlc: hlcFromWall(Date.now()) + seq,
  collection: 'c',
  key: `${origin}${seq}`,
  mutation: [0, `${origin}:${seq}`],
});

/**
 * Holds the frames that connections accepted by `transport` receive while `holding`, and hands
 * them over all at once on flush(), as ws does with several frames from one read of the socket.
 */
class FrameGate {
  holding = false;
  readonly held: (() => void)[] = [];

  wrap(transport: Transport): Transport {
    return {
      dial: (url, options) => transport.dial(url, options),
      listen: (address, onConnection) =>
        transport.listen(address, (connection) => onConnection(this.#gated(connection))),
    };
  }

  flush(): void {
    this.holding = false;
    for (const deliver of this.held.splice(0)) deliver();
  }

  #gated(connection: Connection): Connection {
    const open = connection.open.bind(connection);
    connection.open = (handlers) =>
      open({
        ...handlers,
        message: (frame) => {
          if (this.holding) this.held.push(() => handlers.message(frame));
          else handlers.message(frame);
        },
      });
    return connection;
  }
}

/** Node `a` on a store whose commits can be held, and an authenticated peer `p` sending it frames. */
async function setup(seed: number) {
  const network = new MemoryNetwork({ seed });
  const disk = new FaultyStore(await MemoryStore.open());
  const gate = new FrameGate();
  const a = await node(network, 'a', { disk, transport: (transport) => gate.wrap(transport) });
  const peer = await authenticatedPeer(network, 'a', 'p');
  let number = 0;
  const send = (...ops: Op[]) => peer.connection.send(encodeMessage({ type: 'ops', number: ++number, ops }));
  /** The highest seq of `origin` in every ACK a sent the peer. */
  const acked = (origin: string) =>
    Math.max(0, ...peer.messages().flatMap((m) => (m.type === 'ack' ? [m.vector.get(origin)] : [])));
  return { a, disk, gate, peer, send, acked };
}

const applied = (a: TestNode, origin: string) => a.store.state.versionVector.get(origin);
const durable = (a: TestNode, origin: string) => a.store.log.versionVector.get(origin);

describe('receiving OPS frames', () => {
  it('applies frames that arrive during a commit at once, and commits them together', async () => {
    const { a, disk, send, acked } = await setup(61);
    const release = disk.holdCommits();
    send(op('p', 1));
    await until(() => applied(a, 'p') === 1, 'the first frame applied');
    for (let seq = 2; seq <= 5; seq++) send(op('p', seq));
    await until(() => applied(a, 'p') === 5, 'the frames after it applied while its commit is held');
    // Applied is not durable: nothing is in the log yet, and nothing is acknowledged.
    expect(durable(a, 'p')).toBe(0);
    expect(acked('p')).toBe(0);
    const before = disk.commits;
    release();
    await until(() => durable(a, 'p') === 5 && acked('p') === 5, 'every frame durable and acknowledged');
    // The first frame's commit, then one for the four frames that queued behind it.
    expect(disk.commits - before).toBe(2);
  });

  it('applies nothing received after a refused frame, though it arrived while a commit was held', async () => {
    const { a, disk, gate, peer, send } = await setup(62);
    const release = disk.holdCommits();
    send(op('p', 1));
    await until(() => applied(a, 'p') === 1, 'the first frame applied');
    // q:2 without q:1 is refused (OP_GAP); r:1 is valid, but may build on the refused op. Both
    // arrive in one go, so r:1 is queued before q:2 is refused.
    gate.holding = true;
    send(op('q', 2));
    send(op('r', 1));
    await until(() => gate.held.length === 2, 'both frames at the node');
    gate.flush();
    release();
    await until(() => peer.closed() !== undefined, 'the session closed');
    expect(peer.closed()?.code).toBe(CLOSE_CODES.OUT_OF_ORDER);
    await until(() => durable(a, 'p') === 1, 'the first frame durable');
    expect(a.store.state.versionVector.toJSON()).toEqual({ p: 1 });
    expect(a.store.log.versionVector.toJSON()).toEqual({ p: 1 });
  });

  it('a failed commit takes back the frames applied behind it, and acknowledges none', async () => {
    const { a, disk, peer, send, acked } = await setup(63);
    const release = disk.holdCommits();
    send(op('p', 1));
    await until(() => applied(a, 'p') === 1, 'the first frame applied');
    send(op('p', 2), op('p', 3));
    await until(() => applied(a, 'p') === 3, 'the second frame applied');
    disk.failNextCommits(1);
    release();
    await until(() => peer.closed() !== undefined, 'the session closed');
    expect(peer.closed()?.code).toBe(CLOSE_CODES.SHUTDOWN);
    await until(() => applied(a, 'p') === 0, 'the state rolled back to what is durable');
    expect(durable(a, 'p')).toBe(0);
    expect(acked('p')).toBe(0);
  });
});
