import { OpLogError } from './errors.js';
import { isHlc } from './hlc.js';
import { isCollectionName, isKey, isNodeId } from './identifiers.js';
import { formatDot, type Op, type Write } from './op.js';
import { measureValue } from './value.js';

/** The largest encoded mutation one op may carry. */
export const MAX_MUTATION_BYTES = 1024 * 1024;

/** Throws OP_INVALID unless `write` names a valid collection and key and carries a plain mutation. */
export function validateWrite(write: Write): void {
  if (typeof write !== 'object' || write === null)
    throw new OpLogError('OP_INVALID', 'a write must be an object');
  if (!isCollectionName(write.collection)) {
    throw new OpLogError(
      'OP_INVALID',
      `invalid collection ${JSON.stringify(write.collection)}: use 1-128 characters from A-Z a-z 0-9 . _ -`,
    );
  }
  if (!isKey(write.key)) {
    throw new OpLogError(
      'OP_INVALID',
      'invalid key: use a non-empty, well-formed string of at most 512 characters',
    );
  }
  const size = measureValue(write.mutation);
  if (size < 0) {
    throw new OpLogError(
      'OP_INVALID',
      `the mutation of ${write.collection}/${write.key} is not plain data (or nests too deep)`,
    );
  }
  if (size > MAX_MUTATION_BYTES) {
    throw new OpLogError(
      'OP_INVALID',
      `the mutation of ${write.collection}/${write.key} exceeds ${MAX_MUTATION_BYTES} bytes`,
    );
  }
}

/** Throws OP_INVALID unless `op` is a well-formed op. */
export function validateOp(op: Op): void {
  validateWrite(op);
  if (!isNodeId(op.origin)) throw new OpLogError('OP_INVALID', `invalid origin ${JSON.stringify(op.origin)}`);
  if (!Number.isSafeInteger(op.seq) || op.seq < 1)
    throw new OpLogError('OP_INVALID', `invalid seq in ${formatDot(op)}`);
  if (!isHlc(op.hlc)) throw new OpLogError('OP_INVALID', `invalid timestamp in ${formatDot(op)}`);
}
