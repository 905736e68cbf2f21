import type { ConnectionHandlers } from '../transport.js';

/** One close a connection reported. */
export interface RecordedClose {
  readonly code: number;
  readonly reason: string;
}

/**
 * ConnectionHandlers that record every event, with promises that settle on events (never on
 * timers): `await recorder.until(() => recorder.frames.length === 10)`.
 */
export class ConnectionRecorder implements ConnectionHandlers {
  /** Every frame received, copied, in order. */
  readonly frames: Uint8Array[] = [];
  /** Every close reported (a correct connection reports exactly one). */
  readonly closes: RecordedClose[] = [];
  /** How many times drain fired. */
  drains = 0;
  /** Called on each drain, after counting it (e.g. to read bufferedBytes at that moment). */
  onDrain: (() => void) | undefined;
  private waiters: { check: () => boolean; resolve: () => void }[] = [];

  message(frame: Uint8Array): void {
    this.frames.push(frame.slice());
    this.notify();
  }

  drain(): void {
    this.drains++;
    this.onDrain?.();
    this.notify();
  }

  close(code: number, reason: string): void {
    this.closes.push({ code, reason });
    this.notify();
  }

  /** Resolves once `check()` holds, re-checked after every event. */
  until(check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ check, resolve }));
  }

  /** Resolves with the first close. */
  async closed(): Promise<RecordedClose> {
    await this.until(() => this.closes.length > 0);
    return this.closes[0] as RecordedClose;
  }

  private notify(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const waiter of waiting) {
      if (waiter.check()) waiter.resolve();
      else this.waiters.push(waiter);
    }
  }
}

/** Frame `index` of `size` bytes: the index in its first 4 bytes (when it fits), then a pattern. */
export function numberedFrame(index: number, size: number): Uint8Array {
  const frame = new Uint8Array(size);
  for (let i = 0; i < size; i++) frame[i] = (index * 31 + i * 7) & 0xff;
  if (size >= 4) new DataView(frame.buffer).setUint32(0, index);
  return frame;
}

/** The index of a numberedFrame (of at least 4 bytes). */
export function frameIndex(frame: Uint8Array): number {
  return new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(0);
}

/** Where two byte strings first differ (-1 when equal): cheap to compare, short to print. */
export function firstDifference(a: Uint8Array | undefined, b: Uint8Array): number {
  if (a === undefined) return 0;
  const length = Math.max(a.byteLength, b.byteLength);
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return i;
  return -1;
}
