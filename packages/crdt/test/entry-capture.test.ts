/**
 * EntryCapture (entry-capture.ts): the log entries a checkpoint of ops stores, the range each
 * segment names, and what the capture keeps for the next checkpoint.
 */
import { decode, decodeOps, encodeOps, type Op, type Value, VersionVector } from '@driftless/core';
import { describe, expect, it } from 'vitest';
import { EntryCapture, SEGMENT_FORMAT_OPS } from '../src/entry-capture.js';

const HLC = 1_800_000_000_000 * 1_024;

function op(origin: string, seq: number, value: Value = 'v'): Op {
  return { origin, seq, hlc: HLC + seq, collection: 'docs', key: `${origin}${seq}`, mutation: [0, value] };
}

/** A durable entry as the log hands it to its listeners. */
function chunk(ops: Op[], lsn = 0) {
  return { lsn, ops, bytes: encodeOps(ops) };
}

const vector = (pairs: [string, number][]) => VersionVector.from(pairs);

/** Each segment's range and the ops of its entries within that range. */
function readSegments(segments: readonly Uint8Array[]) {
  return segments.map((bytes) => {
    const [format, from, to, ...entries] = decode(bytes, {
      maxFrameBytes: 1 << 30,
      maxDepth: 64,
      maxItems: 1e9,
    }) as Value[];
    expect(format).toBe(SEGMENT_FORMAT_OPS);
    const low = VersionVector.fromValue(from as Value);
    const high = VersionVector.fromValue(to as Value);
    const ops = entries
      .flatMap((entry) => decodeOps(entry as Uint8Array))
      .filter((o) => o.seq > low.get(o.origin) && o.seq <= high.get(o.origin))
      .map((o) => `${o.origin}:${o.seq}`);
    return { low: low.toJSON(), high: high.toJSON(), ops };
  });
}

describe('EntryCapture', () => {
  it('stores exactly the ops of a range, entries straddling its ends included, and keeps what lies above', () => {
    const capture = new EntryCapture();
    // Entries as a log groups them: two origins interleaved, the range's ends inside entries.
    capture.add(chunk([op('a', 1), op('a', 2), op('b', 1)]));
    capture.add(chunk([op('a', 3), op('b', 2), op('a', 4)]));
    capture.add(chunk([op('a', 5), op('b', 3)]));
    const from = vector([['a', 1]]);
    const to = vector([
      ['a', 4],
      ['b', 2],
    ]);
    expect(capture.startsBy(from, to)).toBe(true);
    expect(capture.covers(from, to)).toBe(true);
    const { segments, ops } = capture.segments(from, to);
    expect(ops).toBe(5);
    expect(readSegments(segments)).toEqual([
      { low: { a: 1 }, high: { a: 4, b: 2 }, ops: ['a:2', 'b:1', 'a:3', 'b:2', 'a:4'] },
    ]);
    // Only the last entry holds ops above the range: the next range finds them.
    const next = vector([
      ['a', 5],
      ['b', 3],
    ]);
    expect(capture.covers(to, next)).toBe(true);
    expect(readSegments(capture.segments(to, next).segments)).toEqual([
      { low: { a: 4, b: 2 }, high: { a: 5, b: 3 }, ops: ['a:5', 'b:3'] },
    ]);
  });

  it('splits a large range into segments of chained ranges, each holding its own ops', () => {
    const capture = new EntryCapture();
    const big = 'x'.repeat(1_000);
    let seq = 0;
    for (let entry = 0; entry < 12; entry++) {
      const ops = Array.from({ length: 50 }, () => op('a', ++seq, big));
      capture.add(chunk(ops));
    }
    const to = vector([['a', seq]]);
    const { segments, ops } = capture.segments(VersionVector.EMPTY, to);
    expect(ops).toBe(seq);
    const read = readSegments(segments);
    // 600 KB of entries, segments of at most 256 KiB: three, each range starting where the last ended.
    expect(read.length).toBe(3);
    expect(read[0]?.low).toEqual({});
    for (let i = 1; i < read.length; i++) expect(read[i]?.low).toEqual(read[i - 1]?.high);
    expect(read.at(-1)?.high).toEqual({ a: seq });
    expect(read.flatMap((segment) => segment.ops)).toEqual(
      Array.from({ length: seq }, (_, i) => `a:${i + 1}`),
    );
  });

  it('covers a range only once its last op is in, and knows a capture that began too late', () => {
    const capture = new EntryCapture();
    const from = vector([['a', 2]]);
    const to = vector([['a', 6]]);
    capture.add(chunk([op('a', 4), op('a', 5)]));
    expect(capture.covers(from, to)).toBe(false);
    capture.add(chunk([op('a', 6)]));
    expect(capture.covers(from, to)).toBe(true);
    // a:3 came before the capture began: segments would lack it.
    expect(capture.startsBy(from, to)).toBe(false);
    expect(capture.startsBy(vector([['a', 3]]), to)).toBe(true);
    capture.clear();
    expect(capture.covers(from, to)).toBe(false);
  });

  it('counts each buffer its entries are views of once, whole, up to its limit', () => {
    const capture = new EntryCapture();
    const shared = new Uint8Array(1024 * 1024);
    const bytes = encodeOps([op('a', 1)]);
    // Twenty views of one MiB: one MiB held.
    for (let i = 0; i < 20; i++) {
      const view = shared.subarray(i * 100, i * 100 + bytes.length);
      view.set(bytes);
      capture.add({ lsn: i, ops: [op('a', 1)], bytes: view });
    }
    expect(capture.overflowed).toBe(false);
    // Seventeen more buffers of one MiB each: past the 16 MiB a capture may hold.
    for (let i = 0; i < 17; i++) {
      const view = new Uint8Array(1024 * 1024).subarray(0, bytes.length);
      view.set(bytes);
      capture.add({ lsn: 20 + i, ops: [op('a', 1)], bytes: view });
    }
    expect(capture.overflowed).toBe(true);
    capture.clear();
    expect(capture.overflowed).toBe(false);
  });

  it('overflows on an entry without its bytes', () => {
    const capture = new EntryCapture();
    capture.add({ lsn: 0, ops: [op('a', 1)] });
    expect(capture.overflowed).toBe(true);
  });
});
