import { ProtocolError } from './errors.js';

/**
 * A structural pass over msgpack bytes before msgpackr sees them. msgpackr revives extensions
 * (records, Error, RegExp, Set, typed arrays, structured-clone cycles) for any Unpackr, has no
 * depth limit, and amplifies tiny containers ~64× in heap. This pass admits only plain msgpack
 * (nil, booleans, numbers, str, bin, arrays, maps with string keys), bounds depth and item count,
 * checks every length against the frame, and refuses 64-bit integers beyond 2^53.
 */

/** Limits on one decoded frame. */
export interface DecodeLimits {
  /** Largest frame accepted, in bytes. */
  readonly maxFrameBytes: number;
  /** Deepest nesting of arrays and maps. */
  readonly maxDepth: number;
  /** Most values (scalars and containers together) in one frame. */
  readonly maxItems: number;
}

/** 4 MiB frames: with msgpackr's ~64× worst-case amplification, ≤ 256 MiB of heap per frame. */
export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxFrameBytes: 4 * 1024 * 1024,
  maxDepth: 64,
  maxItems: 1_000_000,
};

function malformed(message: string): never {
  throw new ProtocolError('PROTOCOL_MALFORMED', message);
}

function unsupported(token: number): never {
  throw new ProtocolError(
    'PROTOCOL_UNSUPPORTED_TYPE',
    `msgpack type 0x${token.toString(16)} is not plain data (extensions, records and Dates are refused)`,
  );
}

const PROTO = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f]; // "__proto__"

/** True when the string whose token is at `pos - 1` reads "__proto__" (fixstr or str8 forms). */
function isProtoKey(bytes: Uint8Array, token: number, pos: number): boolean {
  let start = pos;
  if (token === 0xd9 && bytes[pos] === PROTO.length) start = pos + 1;
  else if (token !== 0xa0 + PROTO.length) return false;
  if (start + PROTO.length > bytes.length) return false;
  for (let i = 0; i < PROTO.length; i++) if (bytes[start + i] !== PROTO[i]) return false;
  return true;
}

/** Throws ProtocolError unless `bytes` is exactly one plain msgpack value within `limits`. */
export function scanFrame(bytes: Uint8Array, limits: DecodeLimits): void {
  const end = bytes.length;
  if (end > limits.maxFrameBytes) {
    throw new ProtocolError(
      'PROTOCOL_FRAME_TOO_LARGE',
      `frame of ${end} bytes exceeds the limit of ${limits.maxFrameBytes} bytes`,
    );
  }
  if (end === 0) malformed('empty frame');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // remaining[d] = values still to read in the container open at depth d; the root expects one.
  const remaining: number[] = [1];
  // isMap[d] marks maps, whose entries alternate a string key and a value.
  const isMap: boolean[] = [false];
  let items = 0;
  let pos = 0;

  const need = (n: number) => {
    if (pos + n > end) malformed('frame ends inside a value');
  };

  while (remaining.length > 0) {
    const depth = remaining.length - 1;
    const left = remaining[depth] as number;
    if (left === 0) {
      remaining.pop();
      isMap.pop();
      continue;
    }
    remaining[depth] = left - 1;
    if (++items > limits.maxItems) {
      throw new ProtocolError('PROTOCOL_LIMIT_EXCEEDED', `frame holds more than ${limits.maxItems} values`);
    }
    need(1);
    const token = bytes[pos++] as number;
    // In a map, the entries alternate key, value; `left` counts down, so even `left` means a key.
    const mustBeKey = isMap[depth] === true && left % 2 === 0;
    const isString = (token >= 0xa0 && token <= 0xbf) || token === 0xd9 || token === 0xda || token === 0xdb;
    if (mustBeKey && !isString) malformed('map keys must be strings');
    if (mustBeKey && isProtoKey(bytes, token, pos)) malformed('a map key may not be "__proto__"');

    if (token <= 0x7f || token >= 0xe0) continue; // fixints
    if (token <= 0x9f) {
      // fixmap 0x80-0x8f, fixarray 0x90-0x9f
      const isMapToken = token <= 0x8f;
      const count = token & 0x0f;
      open(isMapToken ? count * 2 : count, isMapToken);
      continue;
    }
    if (token <= 0xbf) {
      skip(token & 0x1f); // fixstr
      continue;
    }
    switch (token) {
      case 0xc0: // nil
      case 0xc2: // false
      case 0xc3: // true
        continue;
      case 0xc4: // bin8
      case 0xd9: // str8
        need(1);
        skip(bytes[pos++] as number);
        continue;
      case 0xc5: // bin16
      case 0xda: // str16
        need(2);
        pos += 2;
        skip(view.getUint16(pos - 2));
        continue;
      case 0xc6: // bin32
      case 0xdb: // str32
        need(4);
        pos += 4;
        skip(view.getUint32(pos - 4));
        continue;
      case 0xca: // float32
        need(4);
        pos += 4;
        continue;
      case 0xcb: // float64
        need(8);
        pos += 8;
        continue;
      case 0xcc: // uint8
      case 0xd0: // int8
        need(1);
        pos += 1;
        continue;
      case 0xcd: // uint16
      case 0xd1: // int16
        need(2);
        pos += 2;
        continue;
      case 0xce: // uint32
      case 0xd2: // int32
        need(4);
        pos += 4;
        continue;
      case 0xcf: // uint64
      case 0xd3: {
        // int64: admitted only within ±2^53, where a double is exact.
        need(8);
        const high = view.getUint32(pos);
        const safe = token === 0xcf ? high <= 0x1fffff : high <= 0x1fffff || high >= 0xffe00000;
        if (!safe) {
          throw new ProtocolError(
            'PROTOCOL_UNSUPPORTED_TYPE',
            'a 64-bit integer beyond ±2^53 cannot be read exactly',
          );
        }
        pos += 8;
        continue;
      }
      case 0xdc: // array16
        need(2);
        pos += 2;
        open(view.getUint16(pos - 2), false);
        continue;
      case 0xdd: // array32
        need(4);
        pos += 4;
        open(view.getUint32(pos - 4), false);
        continue;
      case 0xde: // map16
        need(2);
        pos += 2;
        open(view.getUint16(pos - 2) * 2, true);
        continue;
      case 0xdf: // map32
        need(4);
        pos += 4;
        open(view.getUint32(pos - 4) * 2, true);
        continue;
      default:
        // 0xc1 (never used) and every extension type: 0xc7-0xc9, 0xd4-0xd8.
        unsupported(token);
    }
  }
  if (pos !== end) malformed(`${end - pos} bytes follow the value`);

  function skip(length: number): void {
    need(length);
    pos += length;
  }

  function open(count: number, map: boolean): void {
    // Every value takes at least one byte, so a count beyond the bytes left is a lie.
    if (count > end - pos) malformed('a container claims more values than the frame holds');
    if (remaining.length > limits.maxDepth) {
      throw new ProtocolError('PROTOCOL_LIMIT_EXCEEDED', `values nest deeper than ${limits.maxDepth} levels`);
    }
    remaining.push(count);
    isMap.push(map);
  }
}
