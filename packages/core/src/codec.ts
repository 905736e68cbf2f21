import { Packr } from 'msgpackr';
import { DEFAULT_DECODE_LIMITS, type DecodeLimits, scanFrame } from './codec-scan.js';
import { DriftlessError, ProtocolError } from './errors.js';
import { measureValue, type Value } from './value.js';

/**
 * The one msgpack configuration of the project. Encoding writes plain msgpack only (no records,
 * no structured clone); decoding admits only what `scanFrame` has checked, so no peer can define
 * records, revive an Error or RegExp, build a cycle, or nest past the depth limit.
 */
const packr = new Packr({
  useRecords: false,
  structuredClone: false,
  moreTypes: false,
  bundleStrings: false,
  mapsAsObjects: true,
  variableMapSize: true,
  // scanFrame has refused 64-bit integers beyond 2^53, so these are exact.
  int64AsType: 'number',
  // Decoded byte strings are copies, so a stored value never pins the frame it came in.
  copyBuffers: true,
});

/** Encodes a plain value as msgpack. */
export function encode(value: Value): Uint8Array {
  if (measureValue(value, DEFAULT_DECODE_LIMITS.maxDepth) < 0) {
    throw new DriftlessError(
      'INVALID_ARGUMENT',
      'value cannot be encoded: only plain data (null, booleans, numbers, well-formed strings, Uint8Array, arrays, plain objects without a "__proto__" field) within the depth limit',
    );
  }
  try {
    return packr.pack(value);
  } catch (error) {
    throw new DriftlessError('INVALID_ARGUMENT', `value cannot be encoded: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * Encodes a value already known to be plain data within the limits, such as what is built only from
 * ops an OpLog admitted (each validated once, on admission): skips the walk `encode` makes first.
 * For anything that came from outside unchecked, use `encode`.
 */
export function encodeValidated(value: Value): Uint8Array {
  return packr.pack(value);
}

/**
 * Decodes one msgpack frame from an untrusted source. Throws ProtocolError (and nothing else) when
 * the bytes are not exactly one plain value within `limits`.
 */
export function decode(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): Value {
  if (!(bytes instanceof Uint8Array)) throw new ProtocolError('PROTOCOL_MALFORMED', 'a frame must be bytes');
  scanFrame(bytes, limits);
  try {
    return packr.unpack(bytes) as Value;
  } catch (error) {
    // scanFrame admits only plain msgpack, so this is not expected; keep it typed all the same.
    throw new ProtocolError('PROTOCOL_MALFORMED', `frame cannot be decoded: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
