import {
  decode,
  decodeOps,
  encode,
  encodeOps,
  isHlc,
  isNodeId,
  type Op,
  type OpTip,
  ProtocolError,
  type Value,
  VersionVector,
} from '@driftless/core';
import { PROTOCOL_VERSION } from './version.js';

/**
 * The messages of the replication protocol (see docs/PROTOCOL.md). A frame is one byte naming the
 * message, then its body: a msgpack array, or for OPS an op-codec batch as it is (no second
 * encoding). Every field is checked on receipt; anything else is a ProtocolError.
 *
 *   HELLO  0  [version, clusterId, nodeId, role, nonce]   first frame of each side
 *   AUTH   1  [proof, vector, tip]                        proof of the cluster secret; durable vector;
 *                                                        [seq, hlc] of the last op of the receiver's origin held, or nil
 *   OPS    2  <u32 number><op batch>                      ops the receiver lacks, in the sender's log order
 *   ACK    3  [vector]                                    the receiver's durable version vector
 *   PING   4  [sentAtMs]                                  liveness; answered by PONG
 *   PONG   5  [sentAtMs]                                  echoes the PING's time, for round-trip time
 *   STATE_BEGIN   6  [id, kind, totalBytes, sha256, vector]  a state transfer starts (kind: delta | snapshot)
 *   STATE_RESUME  7  [id, offset]                        the receiver asks for the bytes from offset on
 *   STATE_CHUNK   8  [id, offset, bytes]                 part of the state, in order
 *   STATE_END     9  [id]                                the last chunk was sent
 *   REPORTS      10  [[nodeId, vector], …]               members' durable vectors as last heard (≤ MAX_REPORTS)
 */

/** What a node does: accepts writes (multi, primary) or only replicates (replica). */
export type Role = 'multi' | 'primary' | 'replica';
/** Every role, in wire order. */
export const ROLES: readonly Role[] = ['multi', 'primary', 'replica'];

/** Bytes of a handshake nonce. */
export const NONCE_BYTES = 32;
/** Bytes of an authentication proof (HMAC-SHA256). */
export const PROOF_BYTES = 32;

/** A decoded protocol message. */
export type Message =
  | {
      readonly type: 'hello';
      readonly version: number;
      readonly clusterId: string;
      readonly nodeId: string;
      readonly role: Role;
      readonly nonce: Uint8Array;
    }
  | {
      readonly type: 'auth';
      readonly proof: Uint8Array;
      readonly vector: VersionVector;
      /** The last op of the receiver's origin the sender's log holds, if any (see origin-check.ts). */
      readonly tip: OpTip | undefined;
    }
  | {
      readonly type: 'ops';
      /** Numbers OPS frames 1, 2, … per session (mod 2^32), so a lost or reordered frame is noticed. */
      readonly number: number;
      readonly ops: readonly Op[];
      /** On a decoded frame: the op-codec batch the ops were decoded from (a log may store it as is). */
      readonly batch?: Uint8Array;
    }
  | { readonly type: 'ack'; readonly vector: VersionVector }
  | { readonly type: 'ping'; readonly time: number }
  | { readonly type: 'pong'; readonly time: number }
  | {
      readonly type: 'state-begin';
      readonly id: number;
      readonly kind: StateKind;
      readonly totalBytes: number;
      readonly sha256: Uint8Array;
      /** The vector the state brings the receiver to (with what it has). */
      readonly vector: VersionVector;
    }
  | { readonly type: 'state-resume'; readonly id: number; readonly offset: number }
  | { readonly type: 'state-chunk'; readonly id: number; readonly offset: number; readonly bytes: Uint8Array }
  | { readonly type: 'state-end'; readonly id: number }
  | {
      readonly type: 'reports';
      /** Each node's durable version vector as the sender last heard it (its own first). */
      readonly reports: readonly (readonly [string, VersionVector])[];
    };

/** The most nodes one REPORTS message may name. */
export const MAX_REPORTS = 1024;

/** A compacted delta (the state of the keys some ops touched) or a whole snapshot. */
export type StateKind = 'delta' | 'snapshot';
const STATE_KINDS: readonly StateKind[] = ['delta', 'snapshot'];

/** The largest state a node accepts in one transfer. */
export const MAX_STATE_BYTES = 1024 * 1024 * 1024;

const TAGS = {
  hello: 0,
  auth: 1,
  ops: 2,
  ack: 3,
  ping: 4,
  pong: 5,
  'state-begin': 6,
  'state-resume': 7,
  'state-chunk': 8,
  'state-end': 9,
  reports: 10,
} as const;

const CLUSTER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** True when `id` is a valid cluster id. */
export function isClusterId(id: unknown): id is string {
  return typeof id === 'string' && CLUSTER_ID.test(id);
}

function malformed(message: string): never {
  throw new ProtocolError('PROTOCOL_MALFORMED', message);
}

function frame(tag: number, body: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(body.length + 1);
  bytes[0] = tag;
  bytes.set(body, 1);
  return bytes;
}

/** Encodes a message as one frame. */
export function encodeMessage(message: Message): Uint8Array {
  switch (message.type) {
    case 'hello':
      return frame(
        TAGS.hello,
        encode([message.version, message.clusterId, message.nodeId, message.role, message.nonce]),
      );
    case 'auth':
      return frame(
        TAGS.auth,
        encode([
          message.proof,
          message.vector.toValue(),
          message.tip === undefined ? null : [message.tip.seq, message.tip.hlc],
        ]),
      );
    case 'ops':
      return opsFrame(message.number, encodeOps(message.ops));
    case 'ack':
      return frame(TAGS.ack, encode([message.vector.toValue()]));
    case 'ping':
    case 'pong':
      return frame(TAGS[message.type], encode([message.time]));
    case 'state-begin':
      return frame(
        TAGS['state-begin'],
        encode([message.id, message.kind, message.totalBytes, message.sha256, message.vector.toValue()]),
      );
    case 'state-resume':
      return frame(TAGS['state-resume'], encode([message.id, message.offset]));
    case 'state-chunk':
      return frame(TAGS['state-chunk'], encode([message.id, message.offset, message.bytes]));
    case 'state-end':
      return frame(TAGS['state-end'], encode([message.id]));
    case 'reports':
      return frame(TAGS.reports, encode(message.reports.map(([node, vector]) => [node, vector.toValue()])));
  }
}

/** Encodes an OPS frame from a batch already in op-codec form. */
export function opsFrame(number: number, batch: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(batch.length + 5);
  bytes[0] = TAGS.ops;
  new DataView(bytes.buffer).setUint32(1, number >>> 0);
  bytes.set(batch, 5);
  return bytes;
}

function fields(body: Uint8Array, count: number, name: string): Value[] {
  const value = decode(body);
  if (!Array.isArray(value) || value.length !== count) malformed(`${name} must be an array of ${count}`);
  return value as Value[];
}

function vectorOf(value: Value | undefined, name: string): VersionVector {
  try {
    return VersionVector.fromValue(value as Value);
  } catch (error) {
    throw new ProtocolError('PROTOCOL_MALFORMED', `${name} holds an invalid version vector`, {
      cause: error,
    });
  }
}

/** An AUTH tip: nil, or [seq, hlc] of one op. */
function tipOf(value: Value | undefined): OpTip | undefined {
  if (value === null) return undefined;
  if (!Array.isArray(value) || value.length !== 2) malformed('the AUTH tip must be nil or [seq, hlc]');
  const [seq, hlc] = value as Value[];
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1)
    malformed('the AUTH tip seq must be a whole number from 1');
  if (!isHlc(hlc)) malformed('the AUTH tip timestamp is not a timestamp');
  return { seq, hlc };
}

function count(value: Value | undefined, name: string, max = 2 ** 32 - 1): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max)
    malformed(`${name} must be a whole number from 0 to ${max}`);
  return value;
}

function bytesOf(value: Value | undefined, length: number, name: string): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== length) malformed(`${name} must be ${length} bytes`);
  return value;
}

/**
 * Decodes one frame. Throws ProtocolError (and nothing else) for anything that is not a valid
 * message; a HELLO of another protocol version decodes (only its version is read) so the caller
 * can refuse it by name.
 */
export function decodeMessage(bytes: Uint8Array): Message {
  if (!(bytes instanceof Uint8Array) || bytes.length < 2) malformed('a frame must hold a tag and a body');
  const tag = bytes[0];
  const body = bytes.subarray(1);
  switch (tag) {
    case TAGS.hello: {
      const value = decode(body);
      if (!Array.isArray(value) || value.length < 1) malformed('HELLO must be an array');
      const version = value[0];
      if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1)
        malformed('HELLO holds no protocol version');
      // The version sits first in every version's HELLO, so any build can read it.
      if (version !== PROTOCOL_VERSION) {
        // Another version: nothing else is read, the session refuses it by version.
        return { type: 'hello', version, clusterId: '', nodeId: '', role: 'multi', nonce: new Uint8Array() };
      }
      if (value.length !== 5) malformed('HELLO must be [version, clusterId, nodeId, role, nonce]');
      const [, clusterId, nodeId, role, nonce] = value;
      if (!isClusterId(clusterId)) malformed('HELLO holds an invalid cluster id');
      if (!isNodeId(nodeId)) malformed('HELLO holds an invalid node id');
      if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role))
        malformed('HELLO holds an unknown role');
      return {
        type: 'hello',
        version,
        clusterId,
        nodeId,
        role: role as Role,
        nonce: bytesOf(nonce, NONCE_BYTES, 'the HELLO nonce'),
      };
    }
    case TAGS.auth: {
      const [proof, vector, tip] = fields(body, 3, 'AUTH');
      return {
        type: 'auth',
        proof: bytesOf(proof, PROOF_BYTES, 'the AUTH proof'),
        vector: vectorOf(vector, 'AUTH'),
        tip: tipOf(tip),
      };
    }
    case TAGS.ops: {
      if (body.length < 5) malformed('OPS must hold a frame number and a batch');
      const number = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(0);
      const batch = body.subarray(4);
      return { type: 'ops', number, ops: decodeOpsFrame(batch), batch };
    }
    case TAGS.ack:
      return { type: 'ack', vector: vectorOf(fields(body, 1, 'ACK')[0], 'ACK') };
    case TAGS.ping:
    case TAGS.pong: {
      const [time] = fields(body, 1, 'PING/PONG');
      if (typeof time !== 'number' || !Number.isFinite(time)) malformed('PING/PONG holds no time');
      return { type: tag === TAGS.ping ? 'ping' : 'pong', time };
    }
    case TAGS['state-begin']: {
      const [id, kind, totalBytes, sha256, vector] = fields(body, 5, 'STATE_BEGIN');
      if (typeof kind !== 'string' || !(STATE_KINDS as readonly string[]).includes(kind))
        malformed('STATE_BEGIN holds an unknown kind');
      return {
        type: 'state-begin',
        id: count(id, 'STATE_BEGIN id'),
        kind: kind as StateKind,
        totalBytes: count(totalBytes, 'STATE_BEGIN size', MAX_STATE_BYTES),
        sha256: bytesOf(sha256, 32, 'the STATE_BEGIN hash'),
        vector: vectorOf(vector, 'STATE_BEGIN'),
      };
    }
    case TAGS['state-resume']: {
      const [id, offset] = fields(body, 2, 'STATE_RESUME');
      return {
        type: 'state-resume',
        id: count(id, 'STATE_RESUME id'),
        offset: count(offset, 'STATE_RESUME offset', MAX_STATE_BYTES),
      };
    }
    case TAGS['state-chunk']: {
      const [id, offset, bytes] = fields(body, 3, 'STATE_CHUNK');
      if (!(bytes instanceof Uint8Array) || bytes.length === 0) malformed('STATE_CHUNK must carry bytes');
      return {
        type: 'state-chunk',
        id: count(id, 'STATE_CHUNK id'),
        offset: count(offset, 'STATE_CHUNK offset', MAX_STATE_BYTES),
        bytes,
      };
    }
    case TAGS['state-end']: {
      const [id] = fields(body, 1, 'STATE_END');
      return { type: 'state-end', id: count(id, 'STATE_END id') };
    }
    case TAGS.reports: {
      const value = decode(body);
      if (!Array.isArray(value) || value.length > MAX_REPORTS)
        malformed(`REPORTS must be an array of at most ${MAX_REPORTS} [nodeId, vector] pairs`);
      const seen = new Set<string>();
      const reports = value.map((entry): [string, VersionVector] => {
        if (!Array.isArray(entry) || entry.length !== 2)
          malformed('a REPORTS entry must be [nodeId, vector]');
        const [node, vector] = entry;
        if (!isNodeId(node)) malformed('a REPORTS entry holds an invalid node id');
        if (seen.has(node)) malformed(`REPORTS names ${node} twice`);
        seen.add(node);
        return [node, vectorOf(vector, 'REPORTS')];
      });
      return { type: 'reports', reports };
    }
    default:
      malformed(`unknown message tag ${tag}`);
  }
}

function decodeOpsFrame(body: Uint8Array): Op[] {
  try {
    const ops = decodeOps(body);
    if (ops.length === 0) malformed('an OPS frame must carry ops');
    return ops;
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    // decodeOps reports invalid ops as OpLogError: on the wire that is a malformed frame.
    throw new ProtocolError('PROTOCOL_MALFORMED', `invalid ops: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
