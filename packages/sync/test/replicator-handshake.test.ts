// Who may hold a session: one session between two nodes that dial each other, the wrong secret, another
// cluster or an unknown protocol version refused with a clear close code, replayed handshakes, forged
// origins and malformed frames refused, and the role a peer announces, again when it is promoted.
import { type Op, VersionVector } from '@driftless/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  authProof,
  CLOSE_CODES,
  createNonce,
  encodeMessage,
  MemoryNetwork,
  PROTOCOL_VERSION,
} from '../src/index.js';
import { node } from './replicator-fixtures.js';
import { authenticatedPeer, rawPeer, SECRET, stopNodes, until, write } from './test-nodes.js';

afterEach(stopNodes);

describe('Replicator over the in-memory network', () => {
  it('keeps one session between two nodes that dial each other', async () => {
    const network = new MemoryNetwork({ seed: 6 });
    const a = await node(network, 'a', { peers: ['mem://b'] });
    const b = await node(network, 'b', { peers: ['mem://a'] });
    await write(a, 'x');
    await until(() => b.store.log.versionVector.get('a') === 1, 'replication');
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(a.replicator.connectedPeers).toEqual(['b']);
    expect(b.replicator.connectedPeers).toEqual(['a']);
  });

  it('refuses a peer with the wrong secret, another cluster, or itself, with a clear close code', async () => {
    const network = new MemoryNetwork({ seed: 7 });
    const a = await node(network, 'a');
    const events: { code: number; reason: string }[] = [];
    const onEvent = (event: { type: string; code?: number; reason?: string }) => {
      if (event.type === 'disconnected')
        events.push({ code: event.code as number, reason: event.reason as string });
    };
    await node(network, 'wrong-secret', {
      peers: ['mem://a'],
      secret: 'not-the-cluster-secret-at-all',
      onEvent,
    });
    await until(() => events.some((e) => e.code === CLOSE_CODES.AUTH_FAILED), 'AUTH_FAILED');
    await node(network, 'other-cluster', { peers: ['mem://a'], clusterId: 'elsewhere', onEvent });
    await until(() => events.some((e) => e.code === CLOSE_CODES.CLUSTER_MISMATCH), 'CLUSTER_MISMATCH');
    expect(a.replicator.connectedPeers).toEqual([]);
    expect(events.find((e) => e.code === CLOSE_CODES.AUTH_FAILED)?.reason).toMatch(/cluster secret/);
  });

  it('refuses an unknown protocol version by name', async () => {
    const network = new MemoryNetwork({ seed: 8 });
    await node(network, 'a');
    const peer = await rawPeer(network, 'mem://a');
    peer.connection.send(
      encodeMessage({
        type: 'hello',
        version: PROTOCOL_VERSION + 1,
        clusterId: 'test',
        nodeId: 'raw',
        role: 'multi',
        nonce: createNonce(),
      }),
    );
    await until(() => peer.closed() !== undefined, 'close');
    expect(peer.closed()?.code).toBe(CLOSE_CODES.PROTOCOL_VERSION);
    expect(peer.closed()?.reason).toContain(
      `protocol ${PROTOCOL_VERSION} and the peer ${PROTOCOL_VERSION + 1}`,
    );
  });

  it('a replayed handshake fails: a proof is bound to the nonce of one connection', async () => {
    const network = new MemoryNetwork({ seed: 9 });
    await node(network, 'a');
    // A genuine peer authenticates on a first connection; its frames are recorded…
    const first = await rawPeer(network, 'mem://a');
    const nonce = createNonce();
    const hello = encodeMessage({
      type: 'hello',
      version: PROTOCOL_VERSION,
      clusterId: 'test',
      nodeId: 'raw',
      role: 'multi',
      nonce,
    });
    first.connection.send(hello);
    await until(() => first.frames.length > 0, 'HELLO from a');
    const theirs = first.messages()[0];
    if (theirs?.type !== 'hello') throw new Error('expected HELLO');
    const proof = authProof(new TextEncoder().encode(SECRET), 'test', 'raw', 'a', theirs.nonce, nonce);
    const auth = encodeMessage({ type: 'auth', proof, vector: VersionVector.EMPTY, tip: undefined });
    first.connection.send(auth);
    await until(() => first.messages().some((m) => m.type === 'auth'), 'AUTH from a');
    expect(first.closed()).toBeUndefined();
    // …and replayed on a second connection, where a sent a new nonce.
    const second = await rawPeer(network, 'mem://a', 'mem://raw2');
    second.connection.send(hello);
    second.connection.send(auth);
    await until(() => second.closed() !== undefined, 'close');
    expect(second.closed()?.code).toBe(CLOSE_CODES.AUTH_FAILED);
  });

  it('closes a session that forges ops of this node, or ops originated by a read-only replica', async () => {
    const network = new MemoryNetwork({ seed: 10 });
    const a = await node(network, 'a');
    const forge = async (nodeId: string, role: 'multi' | 'replica', op: Op) => {
      const peer = await authenticatedPeer(network, 'a', nodeId, role);
      peer.connection.send(encodeMessage({ type: 'ops', number: 1, ops: [op] }));
      await until(() => peer.closed() !== undefined, 'close');
      return peer.closed();
    };
    const mutation = [0, 'forged'];
    const op = (origin: string): Op => ({ origin, seq: 1, hlc: 1, collection: 'c', key: 'k', mutation });
    expect((await forge('mallory', 'multi', op('a')))?.code).toBe(CLOSE_CODES.FORBIDDEN_ORIGIN);
    expect((await forge('ro', 'replica', op('ro')))?.code).toBe(CLOSE_CODES.FORBIDDEN_ORIGIN);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(a.store.log.versionVector.total).toBe(0);
  });

  it('a malformed frame closes the session with BAD_FRAME and applies nothing', async () => {
    const network = new MemoryNetwork({ seed: 11 });
    const a = await node(network, 'a');
    const peer = await rawPeer(network, 'mem://a');
    peer.connection.send(Uint8Array.from([2, 0, 0, 0, 1, 0xc1]));
    await until(() => peer.closed() !== undefined, 'close');
    expect(peer.closed()?.code).toBe(CLOSE_CODES.BAD_FRAME);
    expect(a.store.log.versionVector.total).toBe(0);
  });

  it('promotion re-announces the role: a replica cannot originate ops until promoted', async () => {
    const network = new MemoryNetwork({ seed: 12 });
    const primary = await node(network, 'p', { role: 'primary' });
    const replica = await node(network, 'r', { role: 'replica', peers: ['mem://p'] });
    await until(() => primary.replicator.connectedPeers.includes('r'), 'replica connected');
    expect(primary.replicator.status()[0]?.role).toBe('replica');
    replica.replicator.setRole('multi');
    await until(() => primary.replicator.status()[0]?.role === 'multi', 'role re-announced');
    await write(replica, 'after-promotion');
    await until(() => primary.store.log.versionVector.get('r') === 1, 'the promoted node replicates');
  });
});
