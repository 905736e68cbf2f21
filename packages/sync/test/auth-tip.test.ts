/**
 * The tip an AUTH carries (protocol 4): the seq and timestamp of the last op of the receiver's own
 * origin the sender holds. Checked on receipt like every field; a tip that differs from the
 * receiver's own op at that seq makes it refuse writes (origin-check.ts).
 */
import { encode, ProtocolError, type Value, VersionVector } from '@driftless/core';
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE_CODES, decodeMessage, encodeMessage, MemoryNetwork, PROOF_BYTES } from '../src/index.js';
import { authenticatedPeer, node, stopNodes, until, write } from './test-nodes.js';

afterEach(stopNodes);

const proof = new Uint8Array(PROOF_BYTES).fill(3);
const vector = VersionVector.from({ a: 4 });

/** An AUTH frame (tag 1) whose tip field is `tip`, as it is: what a peer could send. */
function authWith(tip: Value): Uint8Array {
  const body = encode([proof, vector.toValue(), tip]);
  const frame = new Uint8Array(body.length + 1);
  frame[0] = 1;
  frame.set(body, 1);
  return frame;
}

describe('the AUTH tip', () => {
  it('round-trips with and without a tip', () => {
    for (const tip of [{ seq: 4, hlc: 2 ** 40 }, undefined]) {
      const decoded = decodeMessage(encodeMessage({ type: 'auth', proof, vector, tip }));
      expect(decoded).toEqual({ type: 'auth', proof, vector, tip });
    }
    expect(decodeMessage(authWith([4, 2 ** 40]))).toMatchObject({ tip: { seq: 4, hlc: 2 ** 40 } });
    expect(decodeMessage(authWith(null))).toMatchObject({ tip: undefined });
  });

  it('refuses a malformed tip as PROTOCOL_MALFORMED', () => {
    const cases: Value[] = [[0, 2 ** 40], [1.5, 2 ** 40], [1], [1, 2, 3], [1, -1], [1, 'x'], 'tip', {}, 7];
    for (const tip of cases) {
      expect(() => decodeMessage(authWith(tip)), JSON.stringify(tip)).toThrow(ProtocolError);
    }
  });

  it('closes a session whose AUTH tip is beyond its vector', async () => {
    const network = new MemoryNetwork({ seed: 61 });
    await node(network, 'a');
    const peer = await authenticatedPeer(network, 'a', 'raw', 'multi', {
      vector: VersionVector.from({ a: 1 }),
      tip: { seq: 2, hlc: 2 ** 40 },
    });
    await until(() => peer.closed() !== undefined, 'a closes the session');
    expect(peer.closed()?.code).toBe(CLOSE_CODES.BAD_FRAME);
  });

  it('refuses writes when a peer holds another op under one of its dots, and not when the same', async () => {
    const network = new MemoryNetwork({ seed: 62 });
    const a = await node(network, 'a');
    const { op } = await write(a, 'k1');
    const same = await authenticatedPeer(network, 'a', 'same', 'multi', {
      vector: VersionVector.from({ a: 1 }),
      tip: { seq: 1, hlc: op.hlc },
    });
    await until(() => a.events.some((e) => e.type === 'connected' && e.peer === 'same'), 'same connects');
    await write(a, 'k2');
    expect(a.replicator.rewound).toBeUndefined();
    same.connection.close(1000, 'done');
    await authenticatedPeer(network, 'a', 'other', 'multi', {
      vector: VersionVector.from({ a: 1 }),
      tip: { seq: 1, hlc: op.hlc + 1 },
    });
    await until(() => a.replicator.rewound !== undefined, 'a refuses writes');
    expect(a.replicator.rewound).toEqual({ peer: 'other', held: 1, own: 2, conflict: 1 });
    await expect(write(a, 'k3')).rejects.toMatchObject({ code: 'ORIGIN_REWOUND' });
  });
});
