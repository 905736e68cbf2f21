/**
 * @driftless/core: clocks, dots and ops, the codec, and the durable op log over a store port.
 * Browser-safe: the LMDB store lives in `@driftless/core/lmdb`.
 */
export { decode, encode, encodeValidated } from './codec.js';
export { DEFAULT_DECODE_LIMITS, type DecodeLimits, scanFrame } from './codec-scan.js';
export {
  ClockSkewError,
  DAMAGED_STORE_ADVICE,
  DriftlessError,
  ERROR_CODES,
  type ErrorCode,
  isDriftlessError,
  OpLogError,
  ProtocolError,
  StorageError,
} from './errors.js';
export {
  DEFAULT_MAX_SKEW_MS,
  HLC_COUNTER_BITS,
  type Hlc,
  type HlcOptions,
  HybridLogicalClock,
  hlcCounter,
  hlcFromWall,
  hlcWallMs,
  isHlc,
  MAX_HLC,
} from './hlc.js';
export { assertNodeId, isCollectionName, isKey, isNodeId, MAX_KEY_LENGTH } from './identifiers.js';
export { MemoryStore, MemoryVolume } from './memory-store.js';
export { compareDots, type Dot, formatDot, type Op, type OpTip, type Write } from './op.js';
export { decodeOps, encodeOps, encodeValidatedOps, OPS_FORMAT } from './op-codec.js';
export {
  type AppendListener,
  type AppendOptions,
  type LogChunk,
  type LogRetention,
  OpLog,
  type OpLogOptions,
  type TruncateResult,
} from './op-log.js';
export { MAX_MUTATION_BYTES, validateOp, validateWrite } from './op-validate.js';
export {
  compareStoreKeys,
  compareUtf8,
  type RangeOptions,
  type Store,
  type StoreEntry,
  type StoreKey,
  type StoreWrite,
} from './store.js';
export {
  FORBIDDEN_FIELD,
  isValueMap,
  isWellFormed,
  MAX_VALUE_DEPTH,
  measureValue,
  sizeBound,
  type Value,
  type ValueMap,
} from './value.js';
export { type Ordering, type SeqRange, VersionVector } from './version-vector.js';
