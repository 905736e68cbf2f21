/**
 * The in-memory network's clock. Events run one at a time in order of (virtual due time, the
 * order they were scheduled), so a run's delivery order depends only on the seed and on what the
 * program sends, never on how busy the machine is. Virtual time jumps to each event's due time;
 * a real setTimeout paces the jumps so latency is also felt in real time. Events due now run on a
 * microtask, one per microtask, so a zero-latency network delivers without any timer.
 */

interface ScheduledEvent {
  readonly dueMs: number;
  readonly order: number;
  readonly run: () => void;
}

const before = (a: ScheduledEvent, b: ScheduledEvent) =>
  a.dueMs < b.dueMs || (a.dueMs === b.dueMs && a.order < b.order);

/** A virtual-time event queue driven by microtasks and setTimeout; see the module comment. */
export class DeliveryScheduler {
  private nowMs = 0;
  private nextOrder = 0;
  private readonly heap: ScheduledEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
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
    this.push({ dueMs: Math.max(dueMs, this.nowMs), order: this.nextOrder++, run });
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
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDueMs = Number.POSITIVE_INFINITY;
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
    if (this.timer !== undefined && this.timerDueMs <= next.dueMs) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerDueMs = next.dueMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerDueMs = Number.POSITIVE_INFINITY;
      this.runNext();
    }, next.dueMs - this.nowMs);
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
