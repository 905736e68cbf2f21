import { propertyParameters, seededRandom, testSeed } from '@driftless/core/testing';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type BackoffTiming,
  backoffDelayMs,
  CLOSE_CODES,
  DEFAULT_BACKOFF,
  MemoryNetwork,
} from '../src/index.js';
import { node, openStore, startNode, stopNodes, until } from './test-nodes.js';

afterEach(stopNodes);

/** The ceiling of retry `attempt`: the delay is drawn from [ceiling/2, ceiling]. */
const ceilingOf = (attempt: number, timing: BackoffTiming) =>
  Math.min(timing.reconnectMaxMs, timing.reconnectBaseMs * 2 ** Math.min(attempt, 30));

/** The lowest and highest draws of `random` (in [0, 1)). */
const LOWEST = () => 0;
const HIGHEST = () => 1 - 2 ** -53;
/** A draw just under 1, far enough from it that rounding keeps the sum below the ceiling. */
const HIGH = () => 0.999_999;

describe('backoffDelayMs', () => {
  it('doubles from half the base with the lowest draw, and up to the ceiling with the highest', () => {
    const timing = { reconnectBaseMs: 100, reconnectMaxMs: 10_000 };
    const delays = (random: () => number) =>
      Array.from({ length: 9 }, (_, attempt) => backoffDelayMs(attempt, timing, random));
    expect(delays(LOWEST)).toEqual([50, 100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000]);
    expect(delays(HIGH)).toEqual([99, 199, 399, 799, 1_599, 3_199, 6_399, 9_999, 9_999]);
    // The highest draw rounds to the ceiling itself: the range is closed, [ceiling/2, ceiling].
    expect(delays(HIGHEST)).toEqual([100, 200, 400, 800, 1_600, 3_200, 6_400, 10_000, 10_000]);
  });

  it('never exceeds reconnectMaxMs, however many attempts failed', () => {
    for (const attempt of [7, 8, 30, 31, 1_000, 1e9, Number.MAX_SAFE_INTEGER]) {
      expect(backoffDelayMs(attempt, DEFAULT_BACKOFF, LOWEST)).toBe(DEFAULT_BACKOFF.reconnectMaxMs / 2);
      expect(backoffDelayMs(attempt, DEFAULT_BACKOFF, HIGHEST)).toBe(DEFAULT_BACKOFF.reconnectMaxMs);
    }
    // The exponent stops at 30: a base too small to reach the cap by then stays at base · 2^30.
    const tiny = { reconnectBaseMs: 1, reconnectMaxMs: 2 ** 40 };
    expect(backoffDelayMs(1_000, tiny, LOWEST)).toBe(2 ** 29);
  });

  it('draws every delay from [ceiling/2, ceiling], spread over the whole range', () => {
    const seed = testSeed();
    const what = `seed ${seed} (rerun: DRIFTLESS_SEED=${seed})`;
    console.log(`backoff jitter: ${what}`);
    const random = seededRandom(seed);
    const timing = { reconnectBaseMs: 100, reconnectMaxMs: 10_000 };
    for (let attempt = 0; attempt < 10; attempt++) {
      const ceiling = ceilingOf(attempt, timing);
      const delays = Array.from({ length: 2_000 }, () => backoffDelayMs(attempt, timing, random));
      const outside = delays.filter((delay) => delay < ceiling / 2 || delay > ceiling);
      expect(outside, `attempt ${attempt}, ${what}`).toEqual([]);
      expect(delays.every(Number.isInteger), what).toBe(true);
      // Equal jitter: draws land in each quarter of [ceiling/2, ceiling], not only near one end.
      const quarter = (delay: number) => Math.min(3, Math.floor(((delay - ceiling / 2) / ceiling) * 8));
      const quarters = new Set(delays.map(quarter));
      expect([...quarters].sort(), `attempt ${attempt}, ${what}`).toEqual([0, 1, 2, 3]);
    }
  });

  it('with the same draw, a retry under the cap waits at least twice as long as the one before', () => {
    const parameters = propertyParameters(500);
    console.log(`backoff growth: fast-check seed ${parameters.seed}`);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: 0, max: 40 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (base, extra, attempt, draw) => {
          const timing = { reconnectBaseMs: base, reconnectMaxMs: base + extra };
          const delay = backoffDelayMs(attempt, timing, () => draw);
          const next = backoffDelayMs(attempt + 1, timing, () => draw);
          const ceiling = ceilingOf(attempt, timing);
          expect(delay).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
          expect(delay).toBeLessThanOrEqual(timing.reconnectMaxMs);
          expect(next).toBeGreaterThanOrEqual(delay);
          if (ceilingOf(attempt + 1, timing) === 2 * ceiling) expect(next).toBeGreaterThanOrEqual(2 * delay);
        },
      ),
      parameters,
    );
  });
});

describe('Replicator backoff', { timeout: 30_000 }, () => {
  it('grows while dials fail, and starts over after a session that lasted a heartbeat', async () => {
    const network = new MemoryNetwork({ seed: 31 });
    const timing = { reconnectBaseMs: 4, reconnectMaxMs: 64, heartbeatIntervalMs: 10 };
    // The lowest draw every time: each retry waits exactly half its ceiling.
    const b = await node(network, 'b', { options: { peers: ['mem://a'], timing, random: LOWEST } });
    const retries = () =>
      b.events.flatMap((event) => (event.type === 'dial-failed' ? [event.retryInMs] : []));
    // Nothing listens at mem://a yet: every dial fails and the delay doubles up to the cap.
    await until(() => retries().length >= 6, 'six failed dials');
    expect(retries().slice(0, 6)).toEqual([2, 4, 8, 16, 32, 32]);

    const a = await node(network, 'a');
    await until(() => b.replicator.connectedPeers.length === 1, 'b connected');
    // A PONG answered b's first heartbeat: the session has lasted an interval.
    await until(() => b.replicator.status()[0]?.rttMs !== undefined, 'a round trip');
    const failedBefore = retries().length;
    // a goes away: b's session closes (its retry is attempt 0 again) and its dials fail anew.
    await a.stop();
    await until(() => retries().length >= failedBefore + 3, 'three more failed dials');
    const disconnected = b.events.filter((event) => event.type === 'disconnected');
    expect(disconnected).toMatchObject([
      { type: 'disconnected', peer: 'a', code: CLOSE_CODES.SHUTDOWN, retryInMs: 2 },
    ]);
    // Attempts 1, 2, 3 after the reset, not attempts past 6 at the cap.
    expect(retries().slice(failedBefore, failedBefore + 3)).toEqual([4, 8, 16]);
  });

  it('counts a session closed before a heartbeat as a failed dial: a peer that refuses each one is dialed ever less often', async () => {
    const network = new MemoryNetwork({ seed: 32 });
    const timing = { reconnectBaseMs: 4, reconnectMaxMs: 64 };
    await node(network, 'a');
    // b is a read-only replica holding a write of its own: a refuses every session b opens with
    // FORBIDDEN_ORIGIN as soon as b sends it, right after the handshake.
    const storeB = await openStore('b');
    await storeB.write('c', 'k', { kind: 'set', value: 1 });
    const b = await startNode(network, storeB, {
      options: { role: 'replica', peers: ['mem://a'], timing, random: LOWEST },
    });
    const closes = () => b.events.flatMap((event) => (event.type === 'disconnected' ? [event] : []));
    await until(() => closes().length >= 6, 'six refused sessions');
    expect(b.events.filter((event) => event.type === 'connected').length).toBeGreaterThanOrEqual(6);
    for (const close of closes()) expect(close.code).toBe(CLOSE_CODES.FORBIDDEN_ORIGIN);
    // Each refusal is one more failed attempt, not a fresh start at 2 ms.
    expect(
      closes()
        .slice(0, 6)
        .map((close) => close.retryInMs),
    ).toEqual([2, 4, 8, 16, 32, 32]);
  });

  it('names no retry for the sessions it closes when it is closed itself', async () => {
    const network = new MemoryNetwork({ seed: 33 });
    await node(network, 'a');
    const b = await node(network, 'b', { options: { peers: ['mem://a'] } });
    await until(() => b.replicator.connectedPeers.length === 1, 'b connected');
    await b.stop();
    expect(b.events.filter((event) => event.type === 'disconnected')).toEqual([
      { type: 'disconnected', peer: 'a', code: CLOSE_CODES.SHUTDOWN, reason: 'the node is shutting down' },
    ]);
  });
});
