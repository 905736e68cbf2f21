import { encode } from '@driftless/core';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { NONCE_BYTES } from './messages.js';

/**
 * Mutual authentication by challenge–response over the cluster secret. Each side sends a fresh
 * random nonce in its HELLO and answers the other's with
 *
 *   proof = HMAC-SHA256(secret, [DOMAIN, clusterId, prover, verifier, verifierNonce, proverNonce])
 *
 * The secret never crosses the wire; a recorded proof is useless on another connection (the
 * verifier's nonce is new), and naming prover and verifier stops a proof being reflected back.
 */
const DOMAIN = 'driftless-auth-v1';

/** The shortest cluster secret accepted, in bytes. */
export const MIN_SECRET_BYTES = 16;

/** A fresh handshake nonce from the platform's cryptographic random source. */
export function createNonce(): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
}

/** The proof `prover` sends `verifier`, who sent `verifierNonce`. */
export function authProof(
  secret: Uint8Array,
  clusterId: string,
  prover: string,
  verifier: string,
  verifierNonce: Uint8Array,
  proverNonce: Uint8Array,
): Uint8Array {
  return hmac(sha256, secret, encode([DOMAIN, clusterId, prover, verifier, verifierNonce, proverNonce]));
}

/** Compares two proofs in time independent of where they differ. */
export function sameProof(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= (a[i] as number) ^ (b[i] as number);
  return difference === 0;
}
