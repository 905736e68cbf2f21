/**
 * The plain data Driftless stores and sends: what msgpack can carry without extensions. Anything
 * else (Date, Map, Set, class instances, typed arrays other than Uint8Array) is refused at the codec.
 */

/** A plain value: JSON plus byte strings. */
export type Value = null | boolean | number | string | Uint8Array | readonly Value[] | ValueMap;

/** A map from field names to plain values. */
export interface ValueMap {
  readonly [field: string]: Value;
}

/** True when `value` is a ValueMap (a plain object, not an array or byte string). */
export function isValueMap(value: Value | undefined): value is ValueMap {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
  );
}

/**
 * String.prototype.isWellFormed (ES2024: Node 20, current browsers) when the runtime has it: it
 * runs on every key and string value written, and is several times faster than the regexes.
 */
const nativeWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;
const SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * True when `text` is well-formed UTF-16 (no lone surrogate). msgpack carries strings as UTF-8,
 * where a lone surrogate becomes U+FFFD: such a string would change on its way to a peer.
 */
export function isWellFormed(text: string): boolean {
  return nativeWellFormed ? nativeWellFormed.call(text) : !SURROGATE.test(text) || !LONE_SURROGATE.test(text);
}

/**
 * A field name that no map may hold: `__proto__` is an accessor on plain objects, so an object
 * built from decoded msgpack would not hold it as data on every replica alike.
 */
export const FORBIDDEN_FIELD = '__proto__';

/** The deepest nesting a stored value may have: decoding allows 64 levels, the envelope takes a few. */
export const MAX_VALUE_DEPTH = 48;

/**
 * Checks that `value` is plain data no deeper than `maxDepth`, and returns an upper bound of its
 * encoded size in bytes; returns -1 when it is not plain data (a Date, Map, class instance,
 * undefined, a bigint, a string with a lone surrogate, a `__proto__` field, …) or nests too deep.
 */
export function measureValue(value: unknown, maxDepth = MAX_VALUE_DEPTH): number {
  switch (typeof value) {
    case 'boolean':
      return 1;
    case 'number':
      return 9;
    case 'string':
      return isWellFormed(value) ? value.length * 3 + 5 : -1;
    case 'object': {
      if (value === null) return 1;
      if (value instanceof Uint8Array) return value.byteLength + 5;
      if (maxDepth <= 0) return -1;
      let size = 5;
      if (Array.isArray(value)) {
        for (const item of value) {
          const itemSize = measureValue(item, maxDepth - 1);
          if (itemSize < 0) return -1;
          size += itemSize;
        }
        return size;
      }
      const prototype = Object.getPrototypeOf(value);
      if (prototype !== Object.prototype && prototype !== null) return -1;
      for (const field of Object.keys(value)) {
        if (field === FORBIDDEN_FIELD || !isWellFormed(field)) return -1;
        const fieldSize = measureValue((value as Record<string, unknown>)[field], maxDepth - 1);
        if (fieldSize < 0) return -1;
        size += field.length * 3 + 5 + fieldSize;
      }
      return size;
    }
    default:
      return -1;
  }
}

/**
 * measureValue's bound for a value already known to be plain data within the depth limit (one that
 * measureValue accepted, or built only from such values): the same sum without the checks, at about
 * half the cost, since it never scans a string.
 */
export function sizeBound(value: Value): number {
  switch (typeof value) {
    case 'boolean':
      return 1;
    case 'string':
      return value.length * 3 + 5;
    case 'object': {
      if (value === null) return 1;
      if (value instanceof Uint8Array) return value.byteLength + 5;
      let size = 5;
      if (Array.isArray(value)) {
        for (const item of value as readonly Value[]) size += sizeBound(item);
        return size;
      }
      const map = value as ValueMap;
      for (const field of Object.keys(map)) size += field.length * 3 + 5 + sizeBound(map[field] as Value);
      return size;
    }
    default:
      return 9;
  }
}
