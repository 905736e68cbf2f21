import { encodeValidated, type LogChunk, type Value, type VersionVector } from '@driftless/core';

/**
 * Segments of ops (format 5, see state-segments.ts): a checkpoint whose generation mostly wrote
 * keys it had not written before stores the log entries of that generation's ops as they are,
 * instead of encoding each key's state a second time:
 *
 *   state_seg   <n> → [5, from, to, entry, …]: the ops above `from` and up to `to` (version
 *               vectors) of the entries (op-codec batches, as the log holds them), each op of that
 *               range exactly once over the segment's entries, in log order; ops outside it are
 *               not part of the segment.
 *
 * Opening applies a segment's ops to the keys the segments before it left, except on keys that a
 * later segment holds as a cell (segment-load.ts). An entry can hold ops on both sides of a range's
 * ends (the log groups ops into entries as they commit), so it may be stored in two segments.
 */
export const SEGMENT_FORMAT_OPS = 5;

/** Largest segment of ops, unless one entry is larger. */
const OPS_SEGMENT_MAX_BYTES = 256 * 1024;

/**
 * Most memory the entries held may keep from being freed; past it the generation is checkpointed as
 * cells. An entry can be a view of a larger buffer (a peer's frame, msgpackr's output), which it
 * keeps whole: each buffer counts once, whole.
 */
const CAPTURE_MAX_BYTES = 16 * 1024 * 1024;

/** A durable log entry and the seqs of each origin it holds (the log holds each origin's in order). */
interface CapturedEntry {
  readonly bytes: Uint8Array;
  /** origin, first seq, last seq, origin, …: the entry holds every seq between of each origin. */
  readonly spans: readonly (string | number)[];
}

/**
 * The log entries made durable since a point, held by reference until a checkpoint stores them as
 * segments of ops (or gives up on doing so).
 */
export class EntryCapture {
  #entries: CapturedEntry[] = [];
  /** The buffers the entries are views of, and their size in all. */
  #buffers = new Set<ArrayBufferLike>();
  #bytes = 0;
  /** The first and the last seq of each origin captured. */
  readonly #earliest = new Map<string, number>();
  readonly #reached = new Map<string, number>();
  #overflow = false;

  /** True when more entry bytes came than a checkpoint may store as ops: only cells will do. */
  get overflowed(): boolean {
    return this.#overflow;
  }

  /** Holds a durable entry. Without its bytes (never, from the log) the capture overflows. */
  add(chunk: LogChunk): void {
    if (this.#overflow) return;
    const bytes = chunk.bytes;
    if (bytes === undefined || !this.#hold(bytes.buffer)) {
      this.clear();
      this.#overflow = true;
      return;
    }
    const spans: (string | number)[] = [];
    let origin: string | undefined;
    let at = -1;
    for (const op of chunk.ops) {
      if (op.origin !== origin) {
        origin = op.origin;
        at = spanOf(spans, origin);
        if (at < 0) {
          at = spans.length;
          spans.push(origin, op.seq, op.seq);
        }
      }
      spans[at + 2] = op.seq;
    }
    this.#entries.push({ bytes, spans });
    this.#extend(spans);
  }

  /** Widens the seqs captured by an entry's. */
  #extend(spans: readonly (string | number)[]): void {
    for (let i = 0; i < spans.length; i += 3) {
      const origin = spans[i] as string;
      const [first, last] = [spans[i + 1] as number, spans[i + 2] as number];
      if (first < (this.#earliest.get(origin) ?? Number.POSITIVE_INFINITY)) this.#earliest.set(origin, first);
      if (last > (this.#reached.get(origin) ?? 0)) this.#reached.set(origin, last);
    }
  }

  /** Counts `buffer` in, unless it already is; false when it would pass the limit. */
  #hold(buffer: ArrayBufferLike): boolean {
    if (this.#buffers.has(buffer)) return true;
    if (this.#bytes + buffer.byteLength > CAPTURE_MAX_BYTES) return false;
    this.#buffers.add(buffer);
    this.#bytes += buffer.byteLength;
    return true;
  }

  /**
   * True when the capture began early enough for the ops above `from`: each origin's first op
   * above it is in an entry held, or yet to come. The checkpointer starts capturing no later than
   * it takes `from`, so this holds; were it not, segments of these ops would lack some.
   */
  startsBy(from: VersionVector, to: VersionVector): boolean {
    for (const [origin, seq] of to.entries()) {
      const low = from.get(origin);
      if (seq > low && (this.#earliest.get(origin) ?? low + 1) > low + 1) return false;
    }
    return true;
  }

  /** True when every op above `from` and up to `to` has been captured. */
  covers(from: VersionVector, to: VersionVector): boolean {
    for (const [origin, seq] of to.entries())
      if (seq > from.get(origin) && (this.#reached.get(origin) ?? 0) < seq) return false;
    return true;
  }

  /**
   * Segments of the captured ops above `from` up to `to`, which covers() has said are all here, and
   * how many ops they hold. Lets go of the entries no range above `to` needs.
   */
  segments(from: VersionVector, to: VersionVector): { segments: Uint8Array[]; ops: number } {
    const segments: Uint8Array[] = [];
    let ops = 0;
    let low = from;
    let high = from;
    let group: Value[] = [];
    let size = 0;
    const flush = () => {
      segments.push(encodeValidated([SEGMENT_FORMAT_OPS, low.toValue(), high.toValue(), ...group]));
      ops += high.total - low.total;
      low = high;
      group = [];
      size = 0;
    };
    const kept: CapturedEntry[] = [];
    for (const entry of this.#entries) {
      const { spans } = entry;
      let inside = false;
      let above = false;
      for (let i = 0; i < spans.length; i += 3) {
        const origin = spans[i] as string;
        const top = to.get(origin);
        if ((spans[i + 2] as number) > top) above = true;
        if ((spans[i + 1] as number) <= top && (spans[i + 2] as number) > from.get(origin)) inside = true;
      }
      if (above) kept.push(entry);
      if (!inside) continue;
      if (group.length > 0 && size + entry.bytes.length > OPS_SEGMENT_MAX_BYTES) flush();
      group.push(entry.bytes);
      size += entry.bytes.length;
      for (let i = 0; i < spans.length; i += 3) {
        const origin = spans[i] as string;
        const reach = Math.min(spans[i + 2] as number, to.get(origin));
        if (reach > high.get(origin)) high = high.with(origin, reach);
      }
    }
    if (group.length > 0) flush();
    this.#entries = kept;
    this.#buffers = new Set();
    this.#bytes = 0;
    this.#earliest.clear();
    for (const entry of kept) {
      this.#hold(entry.bytes.buffer);
      this.#extend(entry.spans);
    }
    return { segments, ops };
  }

  /** Lets go of every entry; captures afresh from here. */
  clear(): void {
    this.#entries = [];
    this.#buffers = new Set();
    this.#bytes = 0;
    this.#earliest.clear();
    this.#reached.clear();
    this.#overflow = false;
  }
}

/** Where `origin`'s span starts in `spans`, or -1. */
function spanOf(spans: readonly (string | number)[], origin: string): number {
  for (let i = 0; i < spans.length; i += 3) if (spans[i] === origin) return i;
  return -1;
}
