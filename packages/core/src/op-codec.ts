import { decode, encode, encodeValidated } from './codec.js';
import type { DecodeLimits } from './codec-scan.js';
import { ProtocolError } from './errors.js';
import { isHlc } from './hlc.js';
import { isCollectionName, isKey, isNodeId } from './identifiers.js';
import type { Op } from './op.js';
import type { Value } from './value.js';

/**
 * The encoding of a batch of ops, on disk and on the wire:
 *
 *   batch = [OPS_FORMAT, collections, run, run, …]
 *   run   = [origin, firstSeq, baseHlc, (hlcDelta, collectionIndex, key, mutation) × n]
 *
 * A run holds consecutive seqs of one origin, so seqs are implicit; each op's timestamp is the
 * previous one's plus a small non-negative delta; collection names are stored once per batch.
 * An op costs its key and mutation plus a few bytes: 3 with a short key (delta, index, key header).
 */
export const OPS_FORMAT = 1;
const CELLS_PER_OP = 4;
const RUN_HEADER = 3;

function malformed(message: string): never {
  throw new ProtocolError('PROTOCOL_MALFORMED', `op batch: ${message}`);
}

/** Encodes ops, in the order given, as one batch. */
export function encodeOps(ops: readonly Op[]): Uint8Array {
  return encode(batchOf(ops));
}

/**
 * Encodes ops that validateOp or validateWrite has already checked (ops read from an OpLog, which
 * admits only validated ops), without walking every value again. Anything else: encodeOps.
 */
export function encodeValidatedOps(ops: readonly Op[]): Uint8Array {
  return encodeValidated(batchOf(ops));
}

function batchOf(ops: readonly Op[]): Value[] {
  const collections: string[] = [];
  const collectionIndex = new Map<string, number>();
  const batch: Value[] = [OPS_FORMAT, collections];
  let run: Value[] | undefined;
  let previous: Op | undefined;
  for (const op of ops) {
    let index = collectionIndex.get(op.collection);
    if (index === undefined) {
      index = collections.length;
      collections.push(op.collection);
      collectionIndex.set(op.collection, index);
    }
    const continues =
      run !== undefined &&
      previous !== undefined &&
      previous.origin === op.origin &&
      previous.seq + 1 === op.seq &&
      op.hlc >= previous.hlc;
    if (!continues || run === undefined || previous === undefined) {
      run = [op.origin, op.seq, op.hlc];
      batch.push(run);
      run.push(0, index, op.key, op.mutation);
    } else {
      run.push(op.hlc - previous.hlc, index, op.key, op.mutation);
    }
    previous = op;
  }
  return batch;
}

/** Decodes and validates a batch from an untrusted source; throws ProtocolError when it is not one. */
export function decodeOps(bytes: Uint8Array, limits?: DecodeLimits): Op[] {
  const batch = decode(bytes, limits);
  if (!Array.isArray(batch) || batch.length < 2) malformed('not a [format, collections, …runs] array');
  const format = batch[0];
  // String() of a peer's map with its own `toString` throws: name only what is safe to print.
  if (format !== OPS_FORMAT)
    malformed(`unknown format ${typeof format === 'number' ? format : typeof format}`);
  const collections = batch[1];
  if (!Array.isArray(collections) || !collections.every(isCollectionName)) {
    malformed('collection table is not a list of collection names');
  }
  const ops: Op[] = [];
  for (let r = 2; r < batch.length; r++) {
    const run = batch[r];
    if (
      !Array.isArray(run) ||
      run.length < RUN_HEADER + CELLS_PER_OP ||
      (run.length - RUN_HEADER) % CELLS_PER_OP
    ) {
      malformed(`run ${r - 2} is not [origin, firstSeq, baseHlc, …ops]`);
    }
    const origin: unknown = run[0];
    const firstSeq: unknown = run[1];
    let hlc: unknown = run[2];
    if (!isNodeId(origin)) malformed(`run ${r - 2} has an invalid origin`);
    const count = (run.length - RUN_HEADER) / CELLS_PER_OP;
    if (
      typeof firstSeq !== 'number' ||
      !Number.isSafeInteger(firstSeq) ||
      firstSeq < 1 ||
      // The last seq; (firstSeq + count) - 1 can round through 2^53 back to a safe 2^53 - 1.
      !Number.isSafeInteger(firstSeq + (count - 1))
    ) {
      malformed(`run ${r - 2} has an invalid first seq`);
    }
    if (!isHlc(hlc)) malformed(`run ${r - 2} has an invalid timestamp`);
    for (let i = 0; i < count; i++) {
      const at = RUN_HEADER + i * CELLS_PER_OP;
      const delta: unknown = run[at];
      const index: unknown = run[at + 1];
      const key: unknown = run[at + 2];
      if (typeof delta !== 'number' || !Number.isSafeInteger(delta) || delta < 0)
        malformed('invalid timestamp delta');
      hlc = (hlc as number) + delta;
      if (!isHlc(hlc)) malformed('timestamp out of range');
      const collection = typeof index === 'number' ? collections[index] : undefined;
      if (typeof collection !== 'string') malformed('collection index out of range');
      if (!isKey(key)) malformed('invalid key');
      ops.push({ origin, seq: firstSeq + i, hlc, collection, key, mutation: run[at + 3] as Value });
    }
  }
  return ops;
}
