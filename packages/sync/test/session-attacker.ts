import { encode, hlcFromWall, type Op, type OpTip, type Value, VersionVector } from '@driftless/core';
import type { ReplicaState } from '@driftless/crdt';
import { encodeMessage, NONCE_BYTES, PROTOCOL_VERSION, type Role } from '../src/index.js';
import {
  below,
  mutateFrame,
  pick,
  type Random,
  randomRaw,
  type Shot,
  SLOT,
  withRaw,
} from './frame-mutations.js';
import { NODE } from './fuzz-node.js';
import { KEYS, type LinkState, OpWriter } from './peer-ops.js';
import { specProof } from './session-oracle.js';
import { StateTransferWriter } from './state-transfers.js';

/**
 * The fuzzer's peer: it knows the cluster secret (a compromised or buggy node) and writes frames
 * for one connection at a time: valid ones (its own ops continuing its seqs, relays, ACK, PING,
 * PONG) and broken ones (mutated bytes, crafted structures, messages out of turn). It reads what
 * the node holds from the session model, so a valid frame is valid when it is sent.
 */

const OPS_TAG = 2;

/** Writes frames; see the module comment. */
export class Attacker {
  readonly nodeId: string;
  readonly self: string;
  /** A third origin whose ops the attacker relays. */
  readonly relayed: string;
  readonly #random: Random;
  readonly #clusterId: string;
  readonly #secret: Uint8Array;
  readonly #writer: OpWriter;
  readonly #states: StateTransferWriter;
  /** OPS frames sent on the current connection, for replays. */
  #sentOps: Uint8Array[] = [];
  #lastAuth: Uint8Array | undefined;

  constructor(options: {
    random: Random;
    clusterId: string;
    secret: Uint8Array;
    nodeId: string;
    self: string;
    relayed: string;
    nodeOps: readonly Op[];
    mirror: ReplicaState;
    now: () => number;
  }) {
    this.#random = options.random;
    this.#clusterId = options.clusterId;
    this.#secret = options.secret;
    this.nodeId = options.nodeId;
    this.self = options.self;
    this.relayed = options.relayed;
    this.#writer = new OpWriter(options);
    this.#states = new StateTransferWriter(options.random, this.#writer, () => this.nonce());
  }

  /** A handshake nonce (from the seeded source, so a run replays exactly). */
  nonce(): Uint8Array {
    return Uint8Array.from({ length: NONCE_BYTES }, () => below(this.#random, 256));
  }

  /** Forgets the frames of the previous connection. */
  newConnection(): void {
    this.#sentOps = [];
  }

  /** Records a frame that was sent, so it can be replayed later on the same connection. */
  sent(frame: Uint8Array): void {
    if (frame[0] === OPS_TAG && frame.length < 4096) this.#sentOps.push(frame);
  }

  // --- handshake ------------------------------------------------------------------------------

  /** A valid HELLO from `nodeId`. */
  hello(nodeId: string, role: Role, nonce: Uint8Array): Uint8Array {
    return encodeMessage({
      type: 'hello',
      version: PROTOCOL_VERSION,
      clusterId: this.#clusterId,
      nodeId,
      role,
      nonce,
    });
  }

  /** A valid AUTH answering the node's HELLO, from the sender of `hello`. */
  auth(
    nodeNonce: Uint8Array,
    hello: { nodeId: string; nonce: Uint8Array },
    vector: VersionVector,
    tip?: OpTip,
  ): Uint8Array {
    const proof = specProof(this.#secret, this.#clusterId, hello.nodeId, this.nodeId, nodeNonce, hello.nonce);
    const frame = encodeMessage({ type: 'auth', proof, vector, tip });
    if (tip === undefined) this.#lastAuth = frame;
    return frame;
  }

  /** What the attacker claims to hold in its AUTH: usually what the node holds, sometimes less or more. */
  claimedVector(nodeVector: VersionVector): VersionVector {
    const random = this.#random;
    const roll = random();
    if (roll < 0.97) return nodeVector;
    if (roll < 0.99) return nodeVector.with(this.self, nodeVector.get(this.self) + 1 + below(random, 100));
    const entries = nodeVector
      .entries()
      .map(([origin, seq]): [string, number] => [
        origin,
        origin === this.self ? Math.max(0, seq - below(random, 40)) : seq,
      ]);
    return VersionVector.from(entries);
  }

  /** A broken or out-of-turn first frame of a handshake; `nodeNonce` is the node's HELLO nonce. */
  brokenHello(nodeNonce: Uint8Array): Shot {
    const random = this.#random;
    const nonce = this.nonce();
    const valid = this.hello(
      pick(random, [this.self, 'y', 'peer-7']),
      pick(random, ['multi', 'primary', 'replica']),
      nonce,
    );
    switch (below(random, 4)) {
      case 0:
      case 1: {
        const { bytes, how } = mutateFrame(
          random,
          valid,
          this.auth(nodeNonce, { nodeId: this.self, nonce }, VersionVector.EMPTY),
        );
        return { bytes, kind: `hello mutated: ${how}` };
      }
      case 2: {
        const fields: Value[] = [PROTOCOL_VERSION, this.#clusterId, this.self, 'multi', nonce];
        const at = below(random, fields.length + 1);
        if (at === fields.length) fields.push(SLOT);
        else fields[at] = SLOT;
        const raw = randomRaw(random);
        return { bytes: frame(0, withRaw(fields, raw.bytes)), kind: `hello field ${at}: ${raw.name}` };
      }
      default: {
        const semantic: [string, Value[]][] = [
          ['version 2', [PROTOCOL_VERSION + 1, this.#clusterId, this.self, 'multi', nonce]],
          ['version 0', [0, this.#clusterId, this.self, 'multi', nonce]],
          ['version 2^53', [2 ** 53 - 1, 'anything', 1, 2]],
          ['version only', [PROTOCOL_VERSION]],
          ['other cluster', [PROTOCOL_VERSION, 'elsewhere', this.self, 'multi', nonce]],
          ['own node id', [PROTOCOL_VERSION, this.#clusterId, this.nodeId, 'multi', nonce]],
          ['unknown role', [PROTOCOL_VERSION, this.#clusterId, this.self, 'admin', nonce]],
          ['short nonce', [PROTOCOL_VERSION, this.#clusterId, this.self, 'multi', nonce.subarray(1)]],
          ['six fields', [PROTOCOL_VERSION, this.#clusterId, this.self, 'multi', nonce, 1]],
          ['invalid node id', [PROTOCOL_VERSION, this.#clusterId, '-x', 'multi', nonce]],
        ];
        const [kind, fields] = pick(random, semantic);
        return { bytes: frame(0, encode(fields)), kind: `hello ${kind}` };
      }
    }
  }

  /** A broken AUTH after a valid HELLO from `hello`. */
  brokenAuth(
    nodeNonce: Uint8Array,
    hello: { nodeId: string; nonce: Uint8Array },
    vector: VersionVector,
  ): Shot {
    const random = this.#random;
    const previous = this.#lastAuth;
    const valid = this.auth(nodeNonce, hello, vector);
    switch (below(random, 4)) {
      case 0:
      case 1: {
        const { bytes, how } = mutateFrame(random, valid, this.hello(hello.nodeId, 'multi', hello.nonce));
        return { bytes, kind: `auth mutated: ${how}` };
      }
      case 2: {
        const fields: Value[] = [new Uint8Array(32), vector.toValue(), null];
        fields[below(random, 3)] = SLOT;
        const raw = randomRaw(random);
        return { bytes: frame(1, withRaw(fields, raw.bytes)), kind: `auth field: ${raw.name}` };
      }
      default: {
        const reflected = specProof(
          this.#secret,
          this.#clusterId,
          this.nodeId,
          hello.nodeId,
          hello.nonce,
          nodeNonce,
        );
        const semantic: [string, Uint8Array][] = [
          ['random proof', encodeMessage({ type: 'auth', proof: this.nonce(), vector, tip: undefined })],
          ['reflected proof', encodeMessage({ type: 'auth', proof: reflected, vector, tip: undefined })],
          ['replayed auth', previous ?? valid],
          [
            'tip beyond its vector',
            this.auth(nodeNonce, hello, vector, { seq: vector.get(this.nodeId) + 1, hlc: 2 ** 40 }),
          ],
        ];
        const [kind, bytes] = pick(random, semantic);
        return { bytes, kind: `auth ${kind}` };
      }
    }
  }

  // --- established ----------------------------------------------------------------------------

  /** A frame the node must accept (or ignore, for a repeat) on an established connection. */
  validFrame(link: LinkState): Shot {
    const random = this.#random;
    const roll = random();
    if (roll < 0.62) {
      const ops = this.#writer.ops(link, 1 + below(random, random() < 0.97 ? 3 : 64));
      return { bytes: encodeMessage({ type: 'ops', number: link.nextFrameNumber, ops }), kind: 'ops' };
    }
    if (roll < 0.66 && this.#sentOps.length > 0)
      return { bytes: pick(random, this.#sentOps), kind: 'ops repeat' };
    if (roll < 0.76)
      return { bytes: encodeMessage({ type: 'ack', vector: this.#writer.vector(link.vector) }), kind: 'ack' };
    if (roll < 0.8) {
      // Reports of members' vectors, true or not (they only feed tombstone collection).
      const reports: [string, VersionVector][] = [[this.self, this.#writer.vector(link.vector)]];
      if (random() < 0.5) reports.push([pick(random, ['m1', 'm2', NODE]), this.#writer.vector(link.vector)]);
      return { bytes: encodeMessage({ type: 'reports', reports }), kind: 'reports' };
    }
    const type = roll < 0.9 ? 'ping' : 'pong';
    return {
      bytes: encodeMessage({ type, time: pick(random, [this.#writer.now(), 0, -1, 1e300, 0.5]) }),
      kind: type,
    };
  }

  /** A frame that is broken somehow, for an established connection. */
  brokenFrame(link: LinkState, nodeNonce: Uint8Array): Shot {
    const random = this.#random;
    const roll = random();
    if (roll < 0.55) {
      const base = this.#baseFrame(link, nodeNonce);
      const { bytes, how } = mutateFrame(random, base.bytes, this.#baseFrame(link, nodeNonce).bytes);
      return { bytes, kind: `${base.kind} mutated: ${how}` };
    }
    if (roll < 0.75) return this.#slotFrame(link);
    return this.#craftedOps(link, nodeNonce);
  }

  /** A rare, large frame: oversize, amplifying, or carrying a mutation past the size limit. */
  largeFrame(link: LinkState, maxFrameBytes: number): Shot {
    const random = this.#random;
    switch (below(random, 4)) {
      case 0:
        return { bytes: new Uint8Array(maxFrameBytes + 1).fill(0x90), kind: 'large: oversize frame' };
      case 1: {
        // 1,000,001 empty maps: past the codec's item limit, ~64 MB of heap if it were decoded.
        const count = 1_000_001;
        const body = new Uint8Array(5 + count).fill(0x80);
        body.set([0xdd, (count >>> 24) & 0xff, (count >>> 16) & 0xff, (count >>> 8) & 0xff, count & 0xff]);
        return { bytes: opsFrame(link.nextFrameNumber, body), kind: 'large: amplification' };
      }
      case 2: {
        const [op] = this.#writer.ops({ ...link, role: 'multi' }, 1);
        const big = { ...(op as Op), mutation: [0, 'm'.repeat(1024 * 1024 + 1)] };
        return {
          bytes: encodeMessage({ type: 'ops', number: link.nextFrameNumber, ops: [big] }),
          kind: 'large: mutation',
        };
      }
      default: {
        const ops = this.#writer.ops(link, 4097 + below(random, 2000));
        return {
          bytes: encodeMessage({ type: 'ops', number: link.nextFrameNumber, ops }),
          kind: 'large: many ops',
        };
      }
    }
  }

  /** A state transfer, whole or broken (see StateTransferWriter); `underway` is the node's partial one. */
  stateTransfer(
    link: LinkState,
    underway: { totalBytes: number; received: number } | undefined,
  ): { shots: Shot[]; broken: boolean } {
    return this.#states.transfer(link, underway);
  }

  #baseFrame(link: LinkState, nodeNonce: Uint8Array): Shot {
    const random = this.#random;
    const roll = random();
    if (roll < 0.85) return this.validFrame(link);
    if (roll < 0.93) return { bytes: this.hello(this.self, link.role, this.nonce()), kind: 'hello' };
    return {
      bytes: this.auth(nodeNonce, { nodeId: this.self, nonce: this.nonce() }, link.vector),
      kind: 'auth',
    };
  }

  /** A valid frame's template with one field replaced by a raw value. */
  #slotFrame(link: LinkState): Shot {
    const random = this.#random;
    const raw = randomRaw(random);
    const [op] = this.#writer.ops(link, 1);
    const { origin, seq, hlc, key, mutation } = op as Op;
    const choice = below(random, 12);
    if (choice < 9) {
      const run: Value[] = [origin, seq, hlc, 0, 0, key, mutation];
      const batch: Value[] = [1, ['a'], run];
      const names = ['format', 'collections', 'origin', 'seq', 'hlc', 'delta', 'index', 'key', 'mutation'];
      if (choice === 0) batch[0] = SLOT;
      else if (choice === 1) batch[1] = SLOT;
      else run[choice - 2] = SLOT;
      return {
        bytes: opsFrame(link.nextFrameNumber, withRaw(batch, raw.bytes)),
        kind: `ops ${names[choice]}: ${raw.name}`,
      };
    }
    const tag = choice - 6; // 3 ACK, 4 PING, 5 PONG
    const body: Value[] = tag === 3 && random() < 0.5 ? [[this.self, SLOT]] : [SLOT];
    return {
      bytes: frame(tag, withRaw(body, raw.bytes)),
      kind: `${['ack', 'ping', 'pong'][tag - 3]} field: ${raw.name}`,
    };
  }

  /** Well-encoded OPS frames the node must refuse (or ignore) for what they say. */
  #craftedOps(link: LinkState, nodeNonce: Uint8Array): Shot {
    const random = this.#random;
    const ops = this.#writer.ops(link, below(random, 4));
    const at = below(random, ops.length + 1);
    const number = link.nextFrameNumber;
    const vector = link.vector;
    const send = (kind: string, list: Op[], n = number) => ({
      bytes: encodeMessage({ type: 'ops', number: n, ops: list }),
      kind: `crafted: ${kind}`,
    });
    const op = (origin: string, seq: number, hlc = this.#writer.hlc()): Op => ({
      origin,
      seq,
      hlc,
      collection: 'a',
      key: `k${below(random, KEYS)}`,
      mutation: [0, 'forged'],
    });
    switch (below(random, 11)) {
      case 0:
        ops.splice(at, 0, op(this.nodeId, vector.get(this.nodeId) + 1 + below(random, 3)));
        return send('own origin beyond its vector', ops);
      case 1: {
        const origin = pick(random, [this.self, this.relayed, 'w']);
        const last = ops
          .filter((o) => o.origin === origin)
          .reduce((max, o) => Math.max(max, o.seq), vector.get(origin));
        ops.push(op(origin, last + 2 + below(random, 5)));
        return send(`gap in ${origin === this.self ? 'own' : 'relayed'} seqs`, ops);
      }
      case 2:
        ops.splice(
          at,
          0,
          op(
            this.self,
            vector.get(this.self) + 1,
            hlcFromWall(this.#writer.now() + 120_000 + below(random, 1e10)),
          ),
        );
        return send('timestamp far ahead', ops.slice(0, at + 1));
      case 3:
        return send(
          'frame number past a hole',
          ops.length > 0 ? ops : [op(this.self, 1)],
          number + 1 + below(random, 5),
        );
      case 4:
        return send(
          'repeat number with new ops',
          ops.length > 0 ? ops : [op(this.self, 1)],
          number - 1 - below(random, 3),
        );
      case 5:
        return { bytes: opsFrame(number, encode([1, []])), kind: 'crafted: empty batch' };
      case 6:
        return {
          bytes: opsFrame(
            number,
            encode([1, ['a'], [this.self, 2 ** 53 - 1, 1, 0, 0, 'k', [0, 1], 0, 0, 'k', [0, 1]]]),
          ),
          kind: 'crafted: seq overflow',
        };
      case 7:
        return { bytes: this.hello(this.self, link.role, this.nonce()), kind: 'crafted: HELLO again' };
      case 8:
        return {
          bytes: this.auth(nodeNonce, { nodeId: this.self, nonce: this.nonce() }, vector),
          kind: 'crafted: AUTH again',
        };
      case 9:
        // The same ops again under the next number: all duplicates, taken as nothing.
        return {
          bytes:
            this.#sentOps.length > 0
              ? retag(pick(random, this.#sentOps), number)
              : opsFrame(number, encode([1, []])),
          kind: 'crafted: duplicate ops',
        };
      default:
        return send('origin the replica role forbids', [op(this.self, vector.get(this.self) + 1)]);
    }
  }
}

function frame(tag: number, body: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(body.length + 1);
  bytes[0] = tag;
  bytes.set(body, 1);
  return bytes;
}

function opsFrame(number: number, batch: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(batch.length + 5);
  bytes[0] = OPS_TAG;
  new DataView(bytes.buffer).setUint32(1, number >>> 0);
  bytes.set(batch, 5);
  return bytes;
}

/** An OPS frame with its number replaced. */
function retag(ops: Uint8Array, number: number): Uint8Array {
  const bytes = ops.slice();
  new DataView(bytes.buffer).setUint32(1, number >>> 0);
  return bytes;
}
