import { Buffer } from 'node:buffer';
import { decodeOps, encodeOps, HybridLogicalClock, type Op } from '@driftless/core';
import { Packr } from 'msgpackr';
import { type Budget, exact, measurePair, rateOf, type Trial } from './measure.js';
import type { Figure } from './report.js';
import { BATCH_OPS, cycle, makeBatches, NODE_ID, stampOps, VALUE_BYTES } from './workload.js';

/**
 * The op batch codec (encodeOps / decodeOps) beside plain msgpackr packing the same op objects:
 * throughput of a round trip, of each half, and the bytes each spends per op.
 */

/** The batches cycled through by the codec trials. */
const POOL_BATCHES = 16;
/** The target: Driftless within 1.5× of plain msgpackr's time. */
const TARGET_THROUGHPUT_RATIO = 0.67;
/** The target for envelope bytes per op. */
const TARGET_ENVELOPE_BYTES = 12;

/** Measures 2 (codec throughput and size) and 3 (envelope bytes per op). */
export async function benchCodec(budget: Budget): Promise<Figure[]> {
  const packr = new Packr({ useRecords: false });
  const clock = new HybridLogicalClock();
  const batches = makeBatches(POOL_BATCHES).map((writes, b) =>
    stampOps(writes, NODE_ID, 1 + b * BATCH_OPS, clock),
  );
  const encoded = batches.map(encodeOps);
  const packed = batches.map((batch): Uint8Array => packr.pack(batch));
  checkRoundTrips(batches, encoded, packed, packr);

  /** A trial of `step` over the pool, one batch per call. */
  const over =
    <T>(pool: readonly T[], step: (item: T) => number): Trial =>
    () => {
      let next = 0;
      return rateOf(() => step(cycle(pool, next++)), budget.minMs);
    };
  const countOps = (ops: readonly unknown[]) => ops.length;
  const [roundTrip, plainRoundTrip] = await measurePair(
    over(batches, (batch) => countOps(decodeOps(encodeOps(batch)))),
    over(batches, (batch) => countOps(packr.unpack(packr.pack(batch)))),
    budget.reps,
  );
  const [encode, plainEncode] = await measurePair(
    over(batches, (batch) => (encodeOps(batch).length > 0 ? batch.length : 0)),
    over(batches, (batch) => (packr.pack(batch).length > 0 ? batch.length : 0)),
    budget.reps,
  );
  const [decode, plainDecode] = await measurePair(
    over(encoded, (bytes) => countOps(decodeOps(bytes))),
    over(packed, (bytes) => countOps(packr.unpack(bytes))),
    budget.reps,
  );

  const opsInPool = POOL_BATCHES * BATCH_OPS;
  const payloadBytes = batches.flat().reduce((sum, op) => sum + Buffer.byteLength(op.key) + VALUE_BYTES, 0);
  const totalBytes = (pool: readonly Uint8Array[]) => pool.reduce((sum, bytes) => sum + bytes.length, 0);
  return [
    {
      id: 'codec.roundTrip',
      label: '2  codec encode+decode, 1,000-op batches',
      unit: 'ops/s',
      driftless: roundTrip,
      baseline: plainRoundTrip,
      target: { of: 'ratio', bound: 'min', value: TARGET_THROUGHPUT_RATIO },
    },
    { id: 'codec.encode', label: '   encode only', unit: 'ops/s', driftless: encode, baseline: plainEncode },
    { id: 'codec.decode', label: '   decode only', unit: 'ops/s', driftless: decode, baseline: plainDecode },
    {
      id: 'codec.bytesPerOp',
      label: '   encoded bytes per op',
      unit: 'B/op',
      driftless: exact(totalBytes(encoded) / opsInPool),
      baseline: exact(totalBytes(packed) / opsInPool),
    },
    {
      id: 'codec.envelopePerOp',
      label: '3  envelope bytes per op beyond key and value',
      unit: 'B/op',
      driftless: exact((totalBytes(encoded) - payloadBytes) / opsInPool),
      baseline: exact((totalBytes(packed) - payloadBytes) / opsInPool),
      target: { of: 'driftless', bound: 'max', value: TARGET_ENVELOPE_BYTES },
    },
  ];
}

/** Fails loudly unless both codecs give back every op (Driftless: re-encoding reproduces the bytes). */
function checkRoundTrips(
  batches: readonly Op[][],
  encoded: readonly Uint8Array[],
  packed: readonly Uint8Array[],
  packr: Packr,
): void {
  for (const [b, batch] of batches.entries()) {
    const ours = encoded[b];
    const theirs = packed[b];
    if (ours === undefined || theirs === undefined) throw new Error(`batch ${b} was not encoded`);
    if (!Buffer.from(encodeOps(decodeOps(ours))).equals(ours)) {
      throw new Error(`batch ${b}: decodeOps then encodeOps changed the bytes`);
    }
    const unpacked: unknown = packr.unpack(theirs);
    if (!Array.isArray(unpacked) || unpacked.length !== batch.length) {
      throw new Error(`batch ${b}: msgpackr did not give back ${batch.length} ops`);
    }
  }
}
