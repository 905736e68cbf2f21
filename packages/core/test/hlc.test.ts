import {
  ClockSkewError,
  DEFAULT_MAX_SKEW_MS,
  DriftlessError,
  decode,
  encode,
  HLC_COUNTER_BITS,
  type Hlc,
  HybridLogicalClock,
  hlcCounter,
  hlcFromWall,
  hlcWallMs,
  isHlc,
  MAX_HLC,
} from '@driftless/core';
import { propertyParameters } from '@driftless/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const T0 = Date.UTC(2025, 5, 1, 12, 0, 0);
const HOUR_MS = 3_600_000;

/** A wall clock the test moves by hand. */
function manualWall(startMs: number) {
  const wall = { ms: startMs, now: () => wall.ms };
  return wall;
}

/** Asserts that every timestamp is a valid HLC and strictly greater than the one before. */
function expectStrictlyIncreasing(stamps: readonly Hlc[]): void {
  // Plain comparisons, not one expect() per stamp: bursts produce thousands of stamps.
  for (let i = 0; i < stamps.length; i++) {
    const stamp = stamps[i] as Hlc;
    if (!isHlc(stamp)) expect.fail(`timestamp ${i} (${stamp}) is not a valid HLC`);
    if (i > 0 && !(stamp > (stamps[i - 1] as Hlc))) {
      expect.fail(`timestamp ${i} (${stamp}) is not greater than timestamp ${i - 1} (${stamps[i - 1]})`);
    }
  }
}

describe('HybridLogicalClock', () => {
  it('follows the wall clock, and stays monotonic when the wall clock steps back', () => {
    const wall = manualWall(T0);
    const clock = new HybridLogicalClock({ now: wall.now });
    const stamps = [clock.now()];
    expect(stamps[0]).toBe(hlcFromWall(T0));
    for (const step of [5, -1, -1_000, 0, -HOUR_MS, 2, 10, -7, 24 * HOUR_MS]) {
      wall.ms += step;
      stamps.push(clock.now(), clock.now());
    }
    expectStrictlyIncreasing(stamps);
    // Once the wall clock passes everything issued, timestamps follow it again.
    expect(stamps.at(-2)).toBe(hlcFromWall(wall.ms));
    expect(clock.highWater).toBe(stamps.at(-1));
  });

  it('stays monotonic across a restart with the wall clock set back an hour', () => {
    const wall = manualWall(T0);
    const before = new HybridLogicalClock({ now: wall.now });
    const issued: Hlc[] = [];
    for (let i = 0; i < 50; i++) {
      wall.ms += i % 3;
      issued.push(before.now());
    }
    const highWater = before.highWater;
    expect(highWater).toBe(issued.at(-1));

    const restartedWall = manualWall(wall.ms - HOUR_MS);
    const after = new HybridLogicalClock({ now: restartedWall.now, highWater });
    const later: Hlc[] = [];
    for (let i = 0; i < 50; i++) {
      restartedWall.ms += 1;
      later.push(after.now());
    }
    expectStrictlyIncreasing([...issued, ...later]);
    expect(later[0]).toBe(highWater + 1);
  });

  it('carries more than 1,024 events in one millisecond into the wall part, strictly increasing', () => {
    const wall = manualWall(T0);
    const clock = new HybridLogicalClock({ now: wall.now });
    const span = 2 ** HLC_COUNTER_BITS;
    expect(span).toBe(1024);
    const stamps = Array.from({ length: 3 * span + 5 }, () => clock.now());
    expectStrictlyIncreasing(stamps);
    stamps.forEach((stamp, i) => {
      expect(stamp).toBe(hlcFromWall(T0) + i);
    });
    expect(hlcWallMs(stamps[span - 1] as Hlc)).toBe(T0);
    expect(hlcCounter(stamps[span - 1] as Hlc)).toBe(span - 1);
    expect(hlcWallMs(stamps[span] as Hlc)).toBe(T0 + 1);
    expect(hlcCounter(stamps[span] as Hlc)).toBe(0);
    expect(hlcWallMs(stamps.at(-1) as Hlc)).toBe(T0 + 3);

    // The clock ran 3 ms ahead; when the wall clock passes it, timestamps follow the wall again.
    wall.ms = T0 + 2;
    expect(clock.now()).toBe((stamps.at(-1) as Hlc) + 1);
    wall.ms = T0 + 10;
    expect(clock.now()).toBe(hlcFromWall(T0 + 10));
  });

  it('refuses a remote timestamp more than maxSkewMs ahead with ClockSkewError, absorbing nothing', () => {
    const wall = manualWall(T0);
    const clock = new HybridLogicalClock({ now: wall.now, maxSkewMs: 5_000 });
    const first = clock.now();
    const remote = hlcFromWall(T0 + 5_001) + 7;

    let thrown: unknown;
    try {
      clock.observe(remote);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ClockSkewError);
    expect(thrown).toBeInstanceOf(DriftlessError);
    expect(thrown).toMatchObject({ code: 'CLOCK_SKEW', aheadMs: 5_001 });

    expect(clock.highWater).toBe(first);
    const next = clock.now();
    expect(next).toBe(first + 1);
    expect(next).toBeLessThan(remote);
  });

  it('uses a default skew limit of one minute', () => {
    const wall = manualWall(T0);
    const clock = new HybridLogicalClock({ now: wall.now });
    expect(clock.maxSkewMs).toBe(DEFAULT_MAX_SKEW_MS);
    expect(() => clock.observe(hlcFromWall(T0 + DEFAULT_MAX_SKEW_MS + 1))).toThrow(ClockSkewError);
    clock.observe(hlcFromWall(T0 + DEFAULT_MAX_SKEW_MS));
    expect(clock.now()).toBe(hlcFromWall(T0 + DEFAULT_MAX_SKEW_MS) + 1);
  });

  it('absorbs a remote timestamp within the skew, so the next timestamp is greater', () => {
    const wall = manualWall(T0);
    const clock = new HybridLogicalClock({ now: wall.now, maxSkewMs: 5_000 });
    clock.now();
    const remote = hlcFromWall(T0 + 5_000) + 1_000;
    clock.observe(remote);
    expect(clock.highWater).toBe(remote);
    const next = clock.now();
    expect(next).toBeGreaterThan(remote);
    expect(next).toBe(remote + 1);

    // A remote timestamp behind ours changes nothing.
    clock.observe(hlcFromWall(T0 - HOUR_MS));
    expect(clock.now()).toBe(remote + 2);
  });

  it('refuses an invalid maxSkewMs or highWater with INVALID_ARGUMENT', () => {
    for (const options of [
      { maxSkewMs: -1 },
      { maxSkewMs: Number.NaN },
      { highWater: -1 },
      { highWater: 1.5 },
    ]) {
      expect(() => new HybridLogicalClock(options)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    }
  });

  it('encodes a timestamp in the year 2200 exactly, and recovers its parts', () => {
    const wallMs = Date.UTC(2200, 6, 4, 23, 59, 59, 999);
    const counter = 1023;
    const stamp = hlcFromWall(wallMs) + counter;
    expect(isHlc(stamp)).toBe(true);
    expect(stamp).toBeLessThanOrEqual(MAX_HLC);

    const decoded = decode(encode(stamp));
    expect(decoded).toBe(stamp);
    expect(hlcWallMs(stamp)).toBe(wallMs);
    expect(hlcCounter(stamp)).toBe(counter);
    expect(new Date(hlcWallMs(stamp)).toISOString()).toBe('2200-07-04T23:59:59.999Z');

    // The same through a clock whose wall clock reads 2200.
    const clock = new HybridLogicalClock({ now: () => wallMs });
    const issued = [clock.now(), clock.now()];
    expect(issued.map((h) => decode(encode(h)))).toEqual(issued);
    expect(issued.map(hlcCounter)).toEqual([0, 1]);
    expect(issued.map(hlcWallMs)).toEqual([wallMs, wallMs]);
  });

  it('holds wall-clock milliseconds until at least the year 2248', () => {
    expect(new Date(hlcWallMs(MAX_HLC)).getUTCFullYear()).toBeGreaterThanOrEqual(2248);
    expect(decode(encode(MAX_HLC))).toBe(MAX_HLC);
  });

  it('issues strictly increasing timestamps under any interleaving of now, observe and wall-clock moves', () => {
    const maxSkewMs = 10_000;
    const action = fc.oneof(
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('now' as const) }) },
      {
        weight: 2,
        arbitrary: fc.record({
          kind: fc.constant('wall' as const),
          stepMs: fc.oneof(
            fc.integer({ min: -5, max: 5 }),
            fc.integer({ min: -2 * HOUR_MS, max: 2 * HOUR_MS }),
            fc.double({ min: -50, max: 50, noNaN: true }),
          ),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          kind: fc.constant('observe' as const),
          aheadMs: fc.integer({ min: -HOUR_MS, max: 2 * maxSkewMs }),
          counter: fc.integer({ min: 0, max: 2 ** HLC_COUNTER_BITS - 1 }),
        }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('burst' as const), count: fc.nat(3000) }) },
    );
    fc.assert(
      fc.property(fc.array(action, { maxLength: 60 }), (actions) => {
        const wall = manualWall(T0);
        const clock = new HybridLogicalClock({ now: wall.now, maxSkewMs });
        const stamps: Hlc[] = [];
        let absorbed = 0;
        for (const step of actions) {
          switch (step.kind) {
            case 'now': {
              const stamp = clock.now();
              expect(stamp).toBeGreaterThan(absorbed);
              stamps.push(stamp);
              break;
            }
            case 'burst':
              for (let i = 0; i < step.count; i++) stamps.push(clock.now());
              break;
            case 'wall':
              wall.ms += step.stepMs;
              break;
            case 'observe': {
              const remote = hlcFromWall(Math.floor(wall.ms) + step.aheadMs) + step.counter;
              const highWater = clock.highWater;
              try {
                clock.observe(remote);
                absorbed = Math.max(absorbed, remote);
                expect(step.aheadMs).toBeLessThanOrEqual(maxSkewMs);
                expect(clock.highWater).toBe(Math.max(highWater, remote));
              } catch (error) {
                expect(error).toBeInstanceOf(ClockSkewError);
                expect(step.aheadMs).toBeGreaterThan(maxSkewMs);
                expect(clock.highWater).toBe(highWater);
              }
              break;
            }
          }
        }
        expectStrictlyIncreasing(stamps);
        expect(clock.highWater).toBeGreaterThanOrEqual(Math.max(absorbed, stamps.at(-1) ?? 0));
      }),
      propertyParameters(300),
    );
  });
});

describe('HybridLogicalClock.observe input', () => {
  it('refuses something that is not a timestamp with INVALID_ARGUMENT, keeping its clock', () => {
    const clock = new HybridLogicalClock({ now: () => Date.UTC(2026, 0, 1) });
    const before = clock.now();
    for (const bad of [Number.NaN, -1, 1.5, Number.POSITIVE_INFINITY, '5' as unknown as number]) {
      expect(() => clock.observe(bad)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
    expect(clock.now()).toBeGreaterThan(before);
  });
});
