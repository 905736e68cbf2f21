/**
 * The version of the replication protocol this build speaks. A node refuses a peer that speaks
 * another version with close code PROTOCOL_VERSION, naming both versions.
 *
 * History:
 *   1 — HELLO / AUTH handshake (HMAC-SHA256 challenge–response over the cluster secret), OPS
 *       frames carrying op-codec batches, ACK of the durable version vector, PING / PONG.
 */
export const PROTOCOL_VERSION = 1;
