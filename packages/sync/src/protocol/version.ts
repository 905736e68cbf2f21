/**
 * The version of the replication protocol this build speaks. A node refuses a peer that speaks
 * another version with close code PROTOCOL_VERSION, naming both versions.
 *
 * History:
 *   1 — HELLO / AUTH handshake (HMAC-SHA256 challenge–response over the cluster secret), OPS
 *       frames carrying op-codec batches, ACK of the durable version vector, PING / PONG.
 *   2 — numbered OPS frames; STATE_BEGIN / STATE_RESUME / STATE_CHUNK / STATE_END: a compacted
 *       delta or a whole snapshot in resumable chunks, for a peer far behind or behind the log.
 *   3 — REPORTS: the durable version vectors of cluster members as last heard (gossiped on every
 *       heartbeat), from which each node computes the causally stable vector that tombstone
 *       collection needs.
 *   4 — AUTH carries a tip: the seq and timestamp of the last op of the receiver's own origin the
 *       sender holds, so a node that lost its data and wrote again under its id sees that its ops
 *       differ from the peer's at the same seq (origin-check.ts).
 */
export const PROTOCOL_VERSION = 4;
