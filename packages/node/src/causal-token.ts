/**
 * Causal tokens: what a client carries from one request to the next for read-your-writes and
 * monotonic reads. A token is a version vector (the ops a node had applied when it answered),
 * encoded as a format byte and the vector's msgpack form, in unpadded base64url: opaque to
 * clients, safe in a URL, and small (a few bytes per node that ever wrote).
 */
import { decode, encode, VersionVector } from '@driftless/core';
import { ApiError } from './errors.js';

/** The first byte of every token; a token of another format is refused. */
const TOKEN_FORMAT = 1;
/** Longer tokens are refused before decoding (a vector of ~300 nodes fits). */
export const MAX_TOKEN_LENGTH = 16 * 1024;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** The token of `vector`. */
export function encodeToken(vector: VersionVector): string {
  const body = encode(vector.toValue());
  const bytes = new Uint8Array(body.length + 1);
  bytes[0] = TOKEN_FORMAT;
  bytes.set(body, 1);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** The vector of a token; throws ApiError INVALID_TOKEN for anything encodeToken did not make. */
export function decodeToken(token: string): VersionVector {
  const invalid = (why: string) =>
    new ApiError(
      'INVALID_TOKEN',
      `invalid causal token (${why}): pass a token exactly as a response of this API returned it`,
    );
  if (token.length > MAX_TOKEN_LENGTH) throw invalid('too long');
  if (!BASE64URL.test(token)) throw invalid('not base64url');
  const bytes = Buffer.from(token, 'base64url');
  if (bytes[0] !== TOKEN_FORMAT) throw invalid('unknown format');
  try {
    return VersionVector.fromValue(decode(bytes.subarray(1)));
  } catch {
    throw invalid('not a version vector');
  }
}
