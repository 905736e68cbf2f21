/**
 * The handshake that opens a session (see docs/PROTOCOL.md › Session state machine, › Authentication).
 * Both sides send HELLO at once; each checks the other's and answers it with AUTH, whose proof
 * (see protocol/auth.ts) shows it holds the cluster secret, bound to this connection's nonces.
 *
 *   HELLO(version, clusterId, nodeId, role, nonce) ─▶ the peer checks version, cluster and node id
 *   AUTH(proof, vector, tip)                       ─▶ the peer checks the proof
 *
 * The session keeps the phases (hello, auth, established) and calls these checks in turn.
 */
import { CLOSE_CODES } from '../close-codes.js';
import { authProof, createNonce, sameProof } from '../protocol/auth.js';
import type { Message, Role } from '../protocol/messages.js';
import { PROTOCOL_VERSION } from '../protocol/version.js';
import type { SyncReplica } from '../replica.js';

/** The peer as it introduced itself. */
export interface PeerIdentity {
  readonly nodeId: string;
  readonly role: Role;
}

/** The peer's node id and the nonce this node's proof answers, from its HELLO. */
interface PeerHello {
  readonly nodeId: string;
  readonly nonce: Uint8Array;
}

/** What the handshake needs of its session. */
export interface HandshakeLink {
  readonly clusterId: string;
  readonly secret: Uint8Array;
  readonly replica: SyncReplica;
  close(code: number, reason: string): void;
}

/** Both ends of the handshake on one session. */
export class Handshake {
  readonly #link: HandshakeLink;
  /** The nonce this side sent, which the peer's proof answers. */
  readonly #nonce = createNonce();
  #peer: PeerHello | undefined;

  constructor(link: HandshakeLink) {
    this.#link = link;
  }

  /** This node's HELLO. */
  hello(role: Role): Extract<Message, { type: 'hello' }> {
    const { clusterId, replica } = this.#link;
    return {
      type: 'hello',
      version: PROTOCOL_VERSION,
      clusterId,
      nodeId: replica.nodeId,
      role,
      nonce: this.#nonce,
    };
  }

  /**
   * The peer's HELLO: the peer, or undefined after closing the session when the peer speaks another
   * protocol version, belongs to another cluster or uses this node's id.
   */
  acceptHello(hello: Extract<Message, { type: 'hello' }>): PeerIdentity | undefined {
    const { clusterId, replica } = this.#link;
    if (hello.version !== PROTOCOL_VERSION) {
      this.#link.close(
        CLOSE_CODES.PROTOCOL_VERSION,
        `this node speaks protocol ${PROTOCOL_VERSION} and the peer ${hello.version}: upgrade the older node`,
      );
      return undefined;
    }
    if (hello.clusterId !== clusterId) {
      this.#link.close(
        CLOSE_CODES.CLUSTER_MISMATCH,
        `the peer belongs to cluster ${hello.clusterId}, this node to ${clusterId}`,
      );
      return undefined;
    }
    const me = replica.nodeId;
    if (hello.nodeId === me) {
      this.#link.close(CLOSE_CODES.DUPLICATE_NODE, `the peer is this node (${me}) or uses its id`);
      return undefined;
    }
    this.#peer = { nodeId: hello.nodeId, nonce: hello.nonce };
    return { nodeId: hello.nodeId, role: hello.role };
  }

  /**
   * This node's AUTH, once the peer's HELLO is accepted: its proof, this replica's durable vector,
   * and the last op of the peer's origin it holds (see origin-check.ts).
   */
  auth(): Extract<Message, { type: 'auth' }> {
    const { secret, clusterId, replica } = this.#link;
    const peer = this.#peer as PeerHello;
    const proof = authProof(secret, clusterId, replica.nodeId, peer.nodeId, peer.nonce, this.#nonce);
    return { type: 'auth', proof, vector: replica.versionVector, tip: replica.tipOf?.(peer.nodeId) };
  }

  /**
   * The peer's AUTH, once its HELLO is accepted: true when its proof holds; false after closing the
   * session when it does not.
   */
  acceptAuth(auth: Extract<Message, { type: 'auth' }>): boolean {
    const { secret, clusterId, replica } = this.#link;
    const peer = this.#peer as PeerHello;
    const expected = authProof(secret, clusterId, peer.nodeId, replica.nodeId, this.#nonce, peer.nonce);
    if (!sameProof(auth.proof, expected)) {
      this.#link.close(
        CLOSE_CODES.AUTH_FAILED,
        'authentication failed: the nodes do not share the cluster secret',
      );
      return false;
    }
    if (auth.tip !== undefined && auth.tip.seq > auth.vector.get(replica.nodeId)) {
      this.#link.close(CLOSE_CODES.BAD_FRAME, "the AUTH tip is beyond the AUTH vector's seq for this node");
      return false;
    }
    return true;
  }
}
