// The in-memory network's clock (DeliveryScheduler): events in order of virtual due time, and
// virtual time catching up with real time, without a timer per event, once it fell behind.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeliveryScheduler } from '../src/delivery-scheduler.js';

afterEach(() => {
  vi.restoreAllMocks();
});

/** Keeps the event loop busy for `ms` of real time, as a loaded machine or a long task does. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

describe('DeliveryScheduler', () => {
  it('runs events in order of due time, then of scheduling, at their virtual times', async () => {
    const scheduler = new DeliveryScheduler();
    const ran: { name: string; virtualMs: number }[] = [];
    const event = (name: string) => () => ran.push({ name, virtualMs: scheduler.now });
    scheduler.at(6, event('c'));
    scheduler.at(2, event('a'));
    scheduler.at(6, event('d'));
    scheduler.after(4, event('b'));
    scheduler.at(0, event('now'));
    await scheduler.idle();
    expect(ran.map((entry) => entry.name)).toEqual(['now', 'a', 'b', 'c', 'd']);
    expect(ran.map((entry) => entry.virtualMs)).toEqual([0, 2, 4, 6, 6]);
  });

  it('makes an event wait its delay in real time from when it was scheduled, after any idle time', async () => {
    const scheduler = new DeliveryScheduler();
    let ran = false;
    scheduler.after(1, () => {});
    await scheduler.idle();
    // Idle for 40 ms of real time, in which virtual time stands still at 1 ms.
    busy(40);
    scheduler.after(200, () => {
      ran = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran, 'ran on the next turn, its delay not felt').toBe(false);
    await scheduler.idle();
    expect(ran).toBe(true);
    expect(scheduler.now).toBe(201);
  });

  it('catches up without a timer per event once the event loop was kept from running them', async () => {
    const startedAt = performance.now();
    const scheduler = new DeliveryScheduler();
    const ran: number[] = [];
    // A hundred events 0.2 ms apart, all due within 21 ms; then the loop is busy for 40 ms.
    for (let i = 0; i < 100; i++) scheduler.at(1 + i * 0.2, () => ran.push(i));
    busy(40);
    const timers = vi.spyOn(globalThis, 'setTimeout');
    await scheduler.idle();
    expect(ran).toEqual(Array.from({ length: 100 }, (_, i) => i));
    // Every event was past due once the first timer fired: none waited for a timer of its own (the
    // clock before 2026-11-28 armed one per event, so virtual time fell behind real time).
    const paced = timers.mock.calls.filter(([, delayMs]) => (delayMs ?? 0) > 0);
    expect(paced).toEqual([]);
    expect(scheduler.now).toBeCloseTo(1 + 99 * 0.2);
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(scheduler.now);
  });
});
