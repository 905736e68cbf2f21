/**
 * Values between JSON and Driftless. Writes take JSON (checked: plain data, finite numbers, at most
 * MAX_VALUE_DEPTH levels). Reads give JSON: byte strings, which only embedded replicas and Yjs
 * keys hold, come back as standard base64 strings; a Yjs key's value is the document as one Yjs
 * update (v1 encoding), base64.
 */
import { MAX_VALUE_DEPTH, measureValue, type Value } from '@driftless/core';
import type { ReadResult } from '@driftless/crdt';
import { ApiError } from './errors.js';

/** A JSON-safe rendering of a value: bytes become base64 strings. */
export function toJson(value: Value): unknown {
  if (value instanceof Uint8Array) {
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  }
  if (Array.isArray(value)) return value.map(toJson);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [field, item] of Object.entries(value)) out[field] = toJson(item as Value);
    return out;
  }
  return value;
}

/** A read as the API answers it: `{ type, value, siblings? }`. */
export function readJson(read: ReadResult): { type: string; value?: unknown; siblings?: unknown[] } {
  const out: { type: string; value?: unknown; siblings?: unknown[] } = { type: read.type };
  if (read.value !== undefined) out.value = toJson(read.value);
  if (read.siblings !== undefined) {
    out.siblings = read.siblings.map(({ value, origin, hlc }) => ({ value: toJson(value), origin, hlc }));
  }
  return out;
}

/** Parses a JSON body; throws INVALID_JSON when it is not UTF-8 JSON. */
export function parseJson(body: Uint8Array): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new ApiError('INVALID_JSON', 'the body is not UTF-8 text: send JSON');
  }
  if (text.trim() === '') throw new ApiError('INVALID_JSON', 'the body is empty: send a JSON value');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ApiError('INVALID_JSON', `the body is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * Checks that a parsed JSON value can be stored as it is; throws INVALID_VALUE naming `what` when
 * not (a `__proto__` field, a lone surrogate, a number that is not finite, nesting too deep).
 */
export function checkValue(value: unknown, what: string): Value {
  if (measureValue(value) < 0 || !allFinite(value)) {
    throw new ApiError(
      'INVALID_VALUE',
      `${what} must be plain JSON with finite numbers, at most ${MAX_VALUE_DEPTH} levels deep, ` +
        'without a "__proto__" field or lone surrogates',
    );
  }
  return value as Value;
}

/** Recursion is bounded: measureValue has checked the depth. */
function allFinite(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(allFinite);
  if (typeof value === 'object' && value !== null) return Object.values(value).every(allFinite);
  return true;
}
