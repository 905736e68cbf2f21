import { decode, encode } from './codec.js';
import { DAMAGED_STORE_ADVICE, StorageError } from './errors.js';
import { isHlc } from './hlc.js';
import type { OpTip } from './op.js';
import type { StoreKey, StoreWrite } from './store.js';
import { VersionVector } from './version-vector.js';

/**
 * Where the op log keeps things in a store.
 *
 *   log        LSN (1, 2, …)               → an op batch (op-codec), ops in local apply order
 *   log_index  "<origin>/<first seq, hex>" → LSN of the entry holding that origin's ops from that seq
 *   meta       "format" | "node" | "vv" | "base" | "hlc" | "next_lsn" | "tips" → msgpack values
 *              (tips: [origin, seq, hlc, …], written by truncations: see log-tips.ts)
 *
 * Every append writes its entry, its index keys and the new vv/hlc/next_lsn in one transaction,
 * so the meta always agrees with the entries.
 */
export const LOG_TABLE = 'log';
export const LOG_INDEX_TABLE = 'log_index';
export const META_TABLE = 'meta';
/** The on-disk format this code reads and writes. */
export const LOG_FORMAT = 1;

const SEQ_HEX_DIGITS = 14; // 2^53 in hex

/** The index key of `origin`'s ops from `seq` on. Fixed-width hex sorts like the number. */
export function indexKey(origin: string, seq: number): string {
  return `${origin}/${seq.toString(16).padStart(SEQ_HEX_DIGITS, '0')}`;
}

/** The bounds of `origin`'s index keys: from `origin/` up to (not including) `origin0`. */
export function indexBounds(origin: string): { start: string; end: string } {
  return { start: `${origin}/`, end: `${origin}0` };
}

/** The seq in an index key. */
export function seqOfIndexKey(key: StoreKey): number {
  const text = String(key);
  return Number.parseInt(text.slice(text.length - SEQ_HEX_DIGITS), 16);
}

/** A meta write. */
export function metaWrite(key: string, value: Parameters<typeof encode>[0]): StoreWrite {
  return { table: META_TABLE, key, value: encode(value) };
}

function corrupt(what: string, cause?: unknown): never {
  throw new StorageError(
    'STORE_CORRUPT',
    `the op log's ${what} is unreadable: the store is damaged; ${DAMAGED_STORE_ADVICE}`,
    { cause },
  );
}

/** Decodes a stored number (an LSN, a timestamp); STORE_CORRUPT if it is not one. */
export function readStoredNumber(bytes: Uint8Array | undefined, what: string): number | undefined {
  if (bytes === undefined) return undefined;
  let value: unknown;
  try {
    value = decode(bytes);
  } catch (error) {
    corrupt(what, error);
  }
  if (!isHlc(value)) corrupt(what);
  return value;
}

/** Decodes a stored string; STORE_CORRUPT if it is not one. */
export function readStoredString(bytes: Uint8Array | undefined, what: string): string | undefined {
  if (bytes === undefined) return undefined;
  let value: unknown;
  try {
    value = decode(bytes);
  } catch (error) {
    corrupt(what, error);
  }
  if (typeof value !== 'string') corrupt(what);
  return value;
}

/** Decodes a stored version vector; STORE_CORRUPT if it is not one. */
export function readStoredVector(bytes: Uint8Array | undefined, what: string): VersionVector {
  if (bytes === undefined) return VersionVector.EMPTY;
  try {
    return VersionVector.fromValue(decode(bytes));
  } catch (error) {
    corrupt(what, error);
  }
}

/** The meta key of the tips a truncation stores. */
export const TIPS_META = 'tips';

/** Tips as stored: [origin, seq, hlc, …]. */
export function tipsValue(tips: ReadonlyMap<string, OpTip>): (string | number)[] {
  const value: (string | number)[] = [];
  for (const [origin, { seq, hlc }] of tips) value.push(origin, seq, hlc);
  return value;
}

/** Decodes stored tips, each within `vector`; STORE_CORRUPT if they are not that. */
export function readStoredTips(bytes: Uint8Array | undefined, vector: VersionVector): Map<string, OpTip> {
  const tips = new Map<string, OpTip>();
  if (bytes === undefined) return tips;
  let value: unknown;
  try {
    value = decode(bytes);
  } catch (error) {
    corrupt('tips', error);
  }
  if (!Array.isArray(value) || value.length % 3 !== 0) corrupt('tips');
  for (let i = 0; i < value.length; i += 3) {
    const [origin, seq, hlc] = value.slice(i, i + 3) as unknown[];
    if (typeof origin !== 'string' || typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1)
      corrupt('tips');
    if (!isHlc(hlc) || seq > vector.get(origin)) corrupt('tips');
    tips.set(origin, { seq, hlc });
  }
  return tips;
}

export { corrupt as throwCorrupt };
