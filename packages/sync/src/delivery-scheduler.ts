/**
 * The in-memory network's clock. Events run one at a time in order of (virtual due time, the
 * order they were scheduled), so a run's delivery order depends only on the seed and on what the
 * program sends, never on how busy the machine is. Virtual time jumps to each event's due time;
 * a real setTimeout paces the jumps so latency is also felt in real time. Events due now run on a
 * microtask, one per microtask, so a zero-latency network delivers without any timer.
 *
 * Each event also has a real due time: when it was scheduled plus its delay. It never runs
 * before that, and once that has passed (the event loop was busy) it runs on the next turn of the
 * event loop (so timers and I/O still run between events) instead of waiting for a timer of its
 * own. Until 2026-11-28 each jump waited for a timer of the virtual time between two events, at
 * least a millisecond each and more on a busy machine, so with many events in flight deliveries
 * fell further and further behind real time: frames of 0–3 ms latency took longer than the nodes'
 * real-time timeouts (a 200 ms handshake), and every handshake of a simulated cluster timed out
 * for seconds on end.
 */

interface ScheduledEvent {
  readonly dueMs: number;
  /** performance.now() at which it may run: when it was scheduled, plus its delay. */
  readonly realDueMs: number;
  readonly order: number;
  readonly run: () => void;
}

/**
 * Runs `run` on the next turn of the event loop, after pending timers and I/O: setImmediate where
 * there is one (Node), else a 0 ms timer (browsers). Returns the cancel function.
 */
const nextTurn: (run: () => void) => () => void =
  typeof setImmediate === 'function'
    ? (run) => {
        const immediate = setImmediate(run);
        return () => clearImmediate(immediate);
      }
    : (run) => {
        const timer = setTimeout(run, 0);
        return () => clearTimeout(timer);
      };

const before = (a: ScheduledEvent, b: ScheduledEvent) =>
  a.dueMs < b.dueMs || (a.dueMs === b.dueMs && a.order < b.order);

/** A virtual-time event queue driven by microtasks and setTimeout; see the module comment. */
export class DeliveryScheduler {
  private nowMs = 0;
  private nextOrder = 0;
  private readonly heap: ScheduledEvent[] = [];
  /** Cancels the timer (or immediate) armed for the event due at timerDueMs, if any. */
  private cancelTimer: (() => void) | undefined;
  private timerDueMs = Number.POSITIVE_INFINITY;
  private microtaskArmed = false;
  private idleWaiters: (() => void)[] = [];
  private idleCheckArmed = false;

  /** The virtual time of the event running now (or of the last one run), in ms since creation. */
  get now(): number {
    return this.nowMs;
  }

  /** Runs `run` at virtual time `dueMs` (not before now). */
  at(dueMs: number, run: () => void): void {
    const due = Math.max(dueMs, this.nowMs);
    const realDueMs = performance.now() + (due - this.nowMs);
    this.push({ dueMs: due, realDueMs, order: this.nextOrder++, run });
    this.arm();
  }

  /** Runs `run` after `delayMs` of virtual time. */
  after(delayMs: number, run: () => void): void {
    this.at(this.nowMs + delayMs, run);
  }

  /**
   * Resolves once no event is pending, checked on a macrotask so that what the last event's
   * promise continuations schedule still counts.
   */
  idle(): Promise<void> {
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.checkIdle();
    });
  }

  /** Drops every pending event and timer (the network is being discarded). */
  clear(): void {
    this.heap.length = 0;
    this.disarm();
  }

  private arm(): void {
    const next = this.heap[0];
    if (next === undefined) return;
    if (next.dueMs <= this.nowMs) {
      if (this.microtaskArmed) return;
      this.microtaskArmed = true;
      queueMicrotask(() => {
        this.microtaskArmed = false;
        this.runNext();
      });
      return;
    }
    if (this.cancelTimer !== undefined && this.timerDueMs <= next.dueMs) return;
    this.disarm();
    this.timerDueMs = next.dueMs;
    const fire = () => {
      this.cancelTimer = undefined;
      this.timerDueMs = Number.POSITIVE_INFINITY;
      this.runNext();
    };
    const waitMs = next.realDueMs - performance.now();
    if (waitMs <= 0) this.cancelTimer = nextTurn(fire);
    else {
      const timer = setTimeout(fire, waitMs);
      this.cancelTimer = () => clearTimeout(timer);
    }
  }

  private disarm(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.timerDueMs = Number.POSITIVE_INFINITY;
  }

  private runNext(): void {
    const event = this.pop();
    if (event === undefined) return;
    this.nowMs = Math.max(this.nowMs, event.dueMs);
    try {
      event.run();
    } finally {
      this.arm();
      if (this.heap.length === 0) this.checkIdle();
    }
  }

  private checkIdle(): void {
    if (this.idleCheckArmed || this.idleWaiters.length === 0) return;
    this.idleCheckArmed = true;
    setTimeout(() => {
      this.idleCheckArmed = false;
      if (this.heap.length > 0) return; // runNext checks again when the queue empties
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }, 0);
  }

  private push(event: ScheduledEvent): void {
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const up = heap[parent] as ScheduledEvent;
      if (!before(event, up)) break;
      heap[i] = up;
      i = parent;
    }
    heap[i] = event;
  }

  private pop(): ScheduledEvent | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child =
        right < heap.length && before(heap[right] as ScheduledEvent, heap[left] as ScheduledEvent)
          ? right
          : left;
      const smaller = heap[child] as ScheduledEvent;
      if (!before(smaller, last)) break;
      heap[i] = smaller;
      i = child;
    }
    heap[i] = last;
    return top;
  }
}
