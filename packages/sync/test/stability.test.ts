import { encode, type Value, VersionVector } from '@driftless/core';
import { propertyParameters } from '@driftless/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, MAX_REPORTS, StabilityTracker } from '../src/index.js';

const v = (entries: Record<string, number>) => VersionVector.from(entries);

describe('StabilityTracker', () => {
  it('is off without members, and waits for every member to be heard from', () => {
    expect(new StabilityTracker('a').stability(v({ a: 3 }))).toEqual({
      members: [],
      stable: undefined,
      waitingFor: [],
    });
    const tracker = new StabilityTracker('a', ['b', 'c']);
    expect(tracker.members).toEqual(['a', 'b', 'c']);
    tracker.report('b', v({ a: 1 }));
    expect(tracker.stability(v({ a: 3 }))).toEqual({
      members: ['a', 'b', 'c'],
      stable: undefined,
      waitingFor: ['c'],
    });
    tracker.report('c', v({ a: 2, c: 1 }));
    expect(tracker.stability(v({ a: 3, c: 1 })).stable?.toJSON()).toEqual({ a: 1 });
  });

  it('counts a report only once this replica holds everything in it', () => {
    const tracker = new StabilityTracker('a', ['a', 'b']);
    // b reports its own write b:1, which has not arrived here.
    tracker.report('b', v({ a: 2, b: 1 }));
    expect(tracker.stability(v({ a: 2 })).waitingFor).toEqual(['b']);
    // Once b:1 is here, the report counts.
    expect(tracker.stability(v({ a: 2, b: 1 })).stable?.toJSON()).toEqual({ a: 2, b: 1 });
    // A newer report not yet covered leaves the counted one in place.
    tracker.report('b', v({ a: 3, b: 5 }));
    expect(tracker.stability(v({ a: 3, b: 1 })).stable?.toJSON()).toEqual({ a: 2, b: 1 });
  });

  it('gossips what it heard, its own vector first, and ignores an older report', () => {
    const tracker = new StabilityTracker('a');
    tracker.report('b', v({ b: 4 }));
    tracker.report('b', v({ b: 2 }));
    tracker.report('c', v({ c: 1 }));
    const reports = tracker.reports(v({ a: 7 }));
    expect(reports.map(([node, vector]) => [node, vector.toJSON()])).toEqual([
      ['a', { a: 7 }],
      ['b', { b: 4 }],
      ['c', { c: 1 }],
    ]);
    const frame = encodeMessage({ type: 'reports', reports });
    expect(decodeMessage(frame)).toEqual({ type: 'reports', reports });
  });

  it('refuses malformed REPORTS frames with a ProtocolError', () => {
    const tag = encodeMessage({ type: 'reports', reports: [] })[0] as number;
    const bad = (reports: Value) => () => decodeMessage(Uint8Array.from([tag, ...encode(reports)]));
    expect(
      bad([
        ['a', ['a', 1]],
        ['a', ['a', 2]],
      ]),
    ).toThrow(/names a twice/);
    expect(bad([['bad id', ['a', 1]]])).toThrow(/invalid node id/);
    expect(bad([['a', ['a', -1]]])).toThrow(/invalid version vector/);
    expect(bad([['a']])).toThrow(/\[nodeId, vector\]/);
    expect(bad({ a: 1 })).toThrow(/at most/);
    expect(bad(Array.from({ length: MAX_REPORTS + 1 }, (_, i) => [`n${i}`, []]))).toThrow(/at most/);
    for (const message of [bad([['a', ['a', -1]]]), bad({ a: 1 })]) {
      expect(message).toThrow(expect.objectContaining({ code: 'PROTOCOL_MALFORMED' }));
    }
  });

  it('property: the stable vector is below a report of every member that this replica holds', () => {
    const members = ['a', 'b', 'c', 'd'];
    // Each member's durable vector grows; reports of it arrive late, repeated or out of order, and
    // this replica's own vector grows in between.
    const step = fc.oneof(
      fc.record({
        kind: fc.constant('grow' as const),
        member: fc.constantFrom(...members),
        origin: fc.constantFrom(...members),
        by: fc.integer({ min: 1, max: 3 }),
      }),
      fc.record({
        kind: fc.constant('report' as const),
        member: fc.constantFrom(...members),
        age: fc.nat(4),
      }),
      fc.record({ kind: fc.constant('check' as const) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), (steps) => {
        const tracker = new StabilityTracker('a', members);
        const history = new Map(members.map((m) => [m, [VersionVector.EMPTY]]));
        const reported = new Map<string, VersionVector[]>(members.map((m) => [m, []]));
        const current = (m: string) => (history.get(m) as VersionVector[]).at(-1) as VersionVector;
        for (const s of steps) {
          if (s.kind === 'grow') {
            // A member's vector only grows, and never past what some member holds of an origin
            // (ops come from somewhere): keep it simple by letting each grow on its own.
            const next = current(s.member).with(s.origin, current(s.member).get(s.origin) + s.by);
            (history.get(s.member) as VersionVector[]).push(next);
          } else if (s.kind === 'report' && s.member !== 'a') {
            const past = history.get(s.member) as VersionVector[];
            const vector = past[Math.max(0, past.length - 1 - s.age)] as VersionVector;
            tracker.report(s.member, vector);
            (reported.get(s.member) as VersionVector[]).push(vector);
          } else {
            const local = current('a');
            const { stable } = tracker.stability(local);
            if (stable === undefined) continue;
            expect(local.dominates(stable)).toBe(true);
            for (const member of members) {
              if (member === 'a') continue;
              const covered = (reported.get(member) as VersionVector[]).some(
                (r) => local.dominates(r) && r.dominates(stable),
              );
              expect(covered, `${member} has a held report above ${JSON.stringify(stable)}`).toBe(true);
            }
          }
        }
      }),
      propertyParameters(500),
    );
  });
});
