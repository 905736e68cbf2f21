import { DriftlessError } from './errors.js';
import { isWellFormed } from './value.js';

/**
 * Names Driftless puts in keys and on the wire. Node ids (origins) and collection names are
 * restricted so they can be embedded in store keys and URLs without escaping.
 */

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const COLLECTION = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
/**
 * Keys are any non-empty string up to this many UTF-16 code units: with a collection name, a key
 * still fits a store key (≤ 1,978 UTF-8 bytes, LMDB's limit).
 */
export const MAX_KEY_LENGTH = 512;

/** True when `id` is a valid node id (also the origin of every op the node writes). */
export function isNodeId(id: unknown): id is string {
  return typeof id === 'string' && NODE_ID.test(id);
}

/** Collection names found valid, so the test of every op's name is a set lookup (there are few). */
const validCollections = new Set<string>();
const MAX_REMEMBERED_COLLECTIONS = 1024;

/** True when `name` is a valid collection name. */
export function isCollectionName(name: unknown): name is string {
  if (typeof name !== 'string') return false;
  if (validCollections.has(name)) return true;
  if (!COLLECTION.test(name)) return false;
  if (validCollections.size < MAX_REMEMBERED_COLLECTIONS) validCollections.add(name);
  return true;
}

/** True when `key` is a valid key inside a collection. */
export function isKey(key: unknown): key is string {
  return typeof key === 'string' && key.length > 0 && key.length <= MAX_KEY_LENGTH && isWellFormed(key);
}

/** Throws INVALID_ARGUMENT unless `id` is a valid node id. */
export function assertNodeId(id: unknown): asserts id is string {
  if (!isNodeId(id)) {
    throw new DriftlessError(
      'INVALID_ARGUMENT',
      `invalid node id ${JSON.stringify(id)}: use 1-64 characters from A-Z a-z 0-9 . _ - starting with a letter or digit`,
    );
  }
}
