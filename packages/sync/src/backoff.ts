/**
 * Reconnection delays: exponential with equal jitter (between half the ceiling and the ceiling), so a
 * restarted cluster does not stampede.
 */
export interface BackoffTiming {
  /** The first retry's upper bound. */
  readonly reconnectBaseMs: number;
  /** No retry waits longer than this. */
  readonly reconnectMaxMs: number;
}

/** Defaults: retries start within 100 ms and settle at most 10 s apart. */
export const DEFAULT_BACKOFF: BackoffTiming = { reconnectBaseMs: 100, reconnectMaxMs: 10_000 };

/** The delay before retry number `attempt` (0 = the first), drawn with `random` in [0, 1). */
export function backoffDelayMs(attempt: number, timing: BackoffTiming, random: () => number): number {
  const ceiling = Math.min(timing.reconnectMaxMs, timing.reconnectBaseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(ceiling / 2 + (random() * ceiling) / 2);
}
