import {
  hlcFromWall,
  MemoryStore,
  MemoryVolume,
  type Op,
  OpLog,
  type OpTip,
  VersionVector,
} from '@driftless/core';
import { propertyParameters } from '@driftless/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

/**
 * A log's tips (OpLog.tipOf: the seq and timestamp of the last op of each origin it made durable)
 * drive replication's check that a node did not lose its data and write again (origin-check.ts in
 * the sync package): a wrong tip refuses a healthy node's writes, or misses a node that lost its
 * data. They must be the same whether the log kept them in memory, read them back from its
 * entries on reopening, or from what a truncation stored once the entries were gone.
 */

const parameters = propertyParameters(120);

/** One step of a log's life. */
type Step =
  | { readonly kind: 'local'; readonly count: number }
  | { readonly kind: 'remote'; readonly origin: 'b' | 'c'; readonly count: number }
  | { readonly kind: 'install'; readonly origin: 'b' | 'c'; readonly ahead: number }
  | { readonly kind: 'truncate'; readonly share: number }
  | { readonly kind: 'reopen' };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('local' as const), count: fc.integer({ min: 1, max: 3 }) }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('remote' as const),
      origin: fc.constantFrom('b' as const, 'c' as const),
      count: fc.integer({ min: 1, max: 3 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('install' as const),
      origin: fc.constantFrom('b' as const, 'c' as const),
      ahead: fc.integer({ min: 1, max: 3 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('truncate' as const),
      share: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
);

describe('OpLog tips', () => {
  it(`name the last durable op of each origin, across appends, installs, truncations and reopens (fast-check seed ${parameters.seed})`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
        const volume = new MemoryVolume();
        let log = await OpLog.open({ store: await MemoryStore.open(volume), nodeId: 'a' });
        // The model: the last op of each origin appended, whatever became of it since.
        const expected = new Map<string, OpTip>();
        let clock = hlcFromWall(Date.now());
        const remote = (origin: string, seq: number): Op => {
          clock += 1 + seq;
          return { origin, seq, hlc: clock, collection: 'c', key: `${origin}${seq}`, mutation: [0, seq] };
        };
        for (const current of steps) {
          switch (current.kind) {
            case 'local': {
              const writes = Array.from({ length: current.count }, (_, i) => ({
                collection: 'c',
                key: `a${i}`,
                mutation: [0, i],
              }));
              const ops = await log.appendLocal(writes);
              const last = ops[ops.length - 1] as Op;
              expected.set('a', { seq: last.seq, hlc: last.hlc });
              break;
            }
            case 'remote': {
              const from = log.versionVector.get(current.origin);
              const ops = Array.from({ length: current.count }, (_, i) =>
                remote(current.origin, from + 1 + i),
              );
              await log.append(ops);
              const last = ops[ops.length - 1] as Op;
              expected.set(current.origin, { seq: last.seq, hlc: last.hlc });
              break;
            }
            case 'install': {
              const to = log.versionVector.get(current.origin) + current.ahead;
              await log.install(VersionVector.from({ [current.origin]: to }), []);
              break;
            }
            case 'truncate': {
              const watermark = VersionVector.from(
                log.versionVector.entries().map(([origin, seq]) => [origin, Math.floor(seq * current.share)]),
              );
              await log.truncate(watermark);
              break;
            }
            case 'reopen': {
              await log.close();
              log = await OpLog.open({ store: await MemoryStore.open(volume), nodeId: 'a' });
              break;
            }
          }
          for (const origin of ['a', 'b', 'c']) {
            expect(log.tipOf(origin), `${origin} after ${JSON.stringify(current)}`).toEqual(
              expected.get(origin),
            );
          }
        }
        // What the log still holds of each tip reads back as that op.
        for (const [origin, tip] of expected) {
          const op = await log.opAt(origin, tip.seq);
          if (op !== undefined) expect(op.hlc).toBe(tip.hlc);
        }
      }),
      parameters,
    );
  });
});
