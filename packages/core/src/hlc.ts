import { ClockSkewError, DriftlessError } from './errors.js';

/**
 * Hybrid logical clock timestamps packed into one safe integer: `wallMs * 2^10 + counter`.
 *
 * The wall part has 43 bits, enough for milliseconds until the year 2248; doubles hold every
 * integer below 2^53 exactly, so the packing loses nothing. When more than 1,024 events share a
 * millisecond the counter carries into the wall part: the clock runs ahead of real time until
 * the rate drops, and stays strictly monotonic. Timestamps compare as plain numbers.
 */
export type Hlc = number;

/** Bits of the logical counter. */
export const HLC_COUNTER_BITS = 10;
const COUNTER_SPAN = 2 ** HLC_COUNTER_BITS;
/** The default limit on how far a remote timestamp may run ahead of our wall clock. */
export const DEFAULT_MAX_SKEW_MS = 60_000;
/** The largest timestamp this encoding can hold. */
export const MAX_HLC: Hlc = Number.MAX_SAFE_INTEGER;

/** The timestamp at the start of wall-clock millisecond `wallMs`. */
export function hlcFromWall(wallMs: number): Hlc {
  return Math.floor(wallMs) * COUNTER_SPAN;
}

/** The wall-clock millisecond a timestamp belongs to. */
export function hlcWallMs(hlc: Hlc): number {
  return Math.floor(hlc / COUNTER_SPAN);
}

/** The logical counter within the millisecond. */
export function hlcCounter(hlc: Hlc): number {
  return hlc % COUNTER_SPAN;
}

/** True when `value` is a well-formed timestamp. */
export function isHlc(value: unknown): value is Hlc {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Options of a HybridLogicalClock. */
export interface HlcOptions {
  /** The wall clock in milliseconds since the epoch; injectable for tests and clock faults. */
  readonly now?: () => number;
  /** The limit on how far ahead of our wall clock a remote timestamp may be. */
  readonly maxSkewMs?: number;
  /** The highest timestamp issued or seen before a restart, so a clock set back stays monotonic. */
  readonly highWater?: Hlc;
}

/**
 * A hybrid logical clock (Kulkarni et al., 2014): timestamps follow the wall clock, never go
 * backwards, and order every event after the remote events it has seen.
 */
export class HybridLogicalClock {
  readonly maxSkewMs: number;
  readonly #wall: () => number;
  #last: Hlc;

  constructor(options: HlcOptions = {}) {
    this.#wall = options.now ?? Date.now;
    this.maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
    if (!(this.maxSkewMs >= 0)) throw new DriftlessError('INVALID_ARGUMENT', 'maxSkewMs must be ≥ 0');
    const highWater = options.highWater ?? 0;
    if (!isHlc(highWater)) throw new DriftlessError('INVALID_ARGUMENT', 'highWater must be a timestamp');
    this.#last = highWater;
  }

  /** The highest timestamp issued or observed so far (persist it to survive restarts). */
  get highWater(): Hlc {
    return this.#last;
  }

  /** A new timestamp, greater than every timestamp issued or observed before. */
  now(): Hlc {
    const physical = hlcFromWall(this.#wall());
    this.#last = physical > this.#last ? physical : this.#last + 1;
    return this.#last;
  }

  /**
   * Absorbs a remote timestamp so later local timestamps order after it. Throws ClockSkewError,
   * absorbing nothing, when it is more than maxSkewMs ahead of our wall clock.
   */
  observe(remote: Hlc): void {
    if (!isHlc(remote)) throw new DriftlessError('INVALID_ARGUMENT', `${String(remote)} is not a timestamp`);
    const aheadMs = hlcWallMs(remote) - Math.floor(this.#wall());
    if (aheadMs > this.maxSkewMs) throw new ClockSkewError(aheadMs, this.maxSkewMs);
    if (remote > this.#last) this.#last = remote;
  }
}
