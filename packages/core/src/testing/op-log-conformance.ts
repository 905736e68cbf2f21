import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DriftlessError } from '../errors.js';
import { hlcFromWall } from '../hlc.js';
import type { Op } from '../op.js';
import { decodeOps, encodeOps } from '../op-codec.js';
import type { LogChunk, OpLog } from '../op-log.js';
import { VersionVector } from '../version-vector.js';
import { FaultyStore } from './faulty-store.js';
import { logFixture, remoteOp, write } from './op-log-fixture.js';
import { runOpLogReopenConformance } from './op-log-reopen-conformance.js';
import { propertyParameters } from './seed.js';
import type { StoreHarness } from './store-conformance.js';

export { remoteOp } from './op-log-fixture.js';

async function readAll(log: OpLog, since = VersionVector.EMPTY): Promise<Op[]> {
  const ops: Op[] = [];
  for await (const chunk of log.readSince(since)) ops.push(...chunk.ops);
  return ops;
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

const dots = (ops: readonly Op[]) => ops.map((op) => `${op.origin}:${op.seq}`);

/**
 * The op log's contract, run over a store backend: every store must carry the log correctly.
 * Call it beside runStoreConformance with the same harness. It runs the reopening part
 * (op-log-reopen-conformance.ts) too.
 */
export function runOpLogConformance(name: string, harness: StoreHarness): void {
  runOpLogReopenConformance(name, harness);
  describe(`OpLog conformance: ${name}`, () => {
    const { create, reopen, openLog } = logFixture(harness);

    it('gives local writes contiguous seqs from 1 and strictly increasing timestamps', async () => {
      const log = await openLog(await create());
      const first = await log.appendLocal([write('x'), write('y')]);
      const second = await log.appendLocal([write('z')]);
      const ops = [...first, ...second];
      expect(ops.map((op) => op.seq)).toEqual([1, 2, 3]);
      expect(ops.every((op, i) => i === 0 || op.hlc > (ops[i - 1] as Op).hlc)).toBe(true);
      expect(log.versionVector.toJSON()).toEqual({ a: 3 });
      expect(await readAll(log)).toEqual(ops);
    });

    it('admits local writes at once (admitLocal): ops now, durability later, errors thrown', async () => {
      const log = await openLog(await create());
      const { ops, durable } = log.admitLocal([write('x'), write('y')]);
      expect(ops.map((op) => op.seq)).toEqual([1, 2]);
      expect(log.versionVector.get('a'), 'not durable yet').toBe(0);
      await durable;
      expect(log.versionVector.get('a')).toBe(2);
      expect(await readAll(log)).toEqual(ops);
      expect(() => log.admitLocal([{ collection: 'c', key: '', mutation: [0, 1] }])).toThrow(
        expect.objectContaining({ code: 'OP_INVALID' }),
      );
      log.refuseLocalWrites(new DriftlessError('ORIGIN_REWOUND', 'peer b holds a:9'));
      expect(() => log.admitLocal([write('z')])).toThrow(expect.objectContaining({ code: 'ORIGIN_REWOUND' }));
      expect(log.versionVector.get('a'), 'no seq was taken').toBe(2);
    });

    it('skips ops it already holds, and refuses a gap with OP_GAP, appending nothing', async () => {
      const log = await openLog(await create());
      expect(dots(await log.append([remoteOp('b', 1), remoteOp('b', 2)]))).toEqual(['b:1', 'b:2']);
      expect(dots(await log.append([remoteOp('b', 2), remoteOp('b', 3)]))).toEqual(['b:3']);
      await expect(log.append([remoteOp('c', 1), remoteOp('b', 5)])).rejects.toMatchObject({
        code: 'OP_GAP',
      });
      expect(log.versionVector.toJSON()).toEqual({ b: 3 });
      expect(dots(await log.append([remoteOp('c', 1)]))).toEqual(['c:1']);
    });

    it('admits remote ops at once (admit): a later batch builds on one not yet durable, errors thrown', async () => {
      const faulty = new FaultyStore(await create());
      const log = await openLog(faulty);
      const release = faulty.holdCommits();
      const first = log.admit([remoteOp('b', 1), remoteOp('b', 2)]);
      await turn(); // its commit starts, and is held
      const second = log.admit([remoteOp('b', 2), remoteOp('b', 3), remoteOp('c', 1)]);
      expect(dots(first.accepted)).toEqual(['b:1', 'b:2']);
      expect(dots(second.accepted), 'b:2 is known once admitted').toEqual(['b:3', 'c:1']);
      expect(() => log.admit([remoteOp('d', 1), remoteOp('b', 5)])).toThrow(
        expect.objectContaining({ code: 'OP_GAP' }),
      );
      expect(dots(log.admit([remoteOp('d', 1)]).accepted), 'the refused batch took nothing').toEqual(['d:1']);
      expect(log.versionVector.size, 'nothing is durable yet').toBe(0);
      const before = faulty.commits;
      release();
      await second.durable;
      expect(log.versionVector.toJSON()).toEqual({ b: 3, c: 1, d: 1 });
      expect(faulty.commits - before, 'the first batch alone, then the rest together').toBe(2);
      expect(dots(await readAll(log))).toEqual(['b:1', 'b:2', 'b:3', 'c:1', 'd:1']);
      // A failed commit fails the batches admitted behind it too.
      const held = faulty.holdCommits();
      const failing = log.admit([remoteOp('b', 4)]);
      await turn();
      const behind = log.admit([remoteOp('b', 5)]);
      faulty.failNextCommits(1);
      held();
      await expect(failing.durable).rejects.toMatchObject({ code: 'STORE_WRITE_FAILED' });
      await expect(behind.durable).rejects.toMatchObject({ code: 'STORE_WRITE_FAILED' });
      expect(() => log.admit([remoteOp('c', 2)])).toThrow(expect.objectContaining({ code: 'LOG_FAILED' }));
      expect(log.versionVector.get('b')).toBe(3);
    });

    it('refuses malformed ops with OP_INVALID, appending nothing', async () => {
      const log = await openLog(await create());
      const bad: unknown[] = [
        { ...remoteOp('b', 1), origin: 'no spaces allowed' },
        { ...remoteOp('b', 1), seq: 0 },
        { ...remoteOp('b', 1), seq: 1.5 },
        { ...remoteOp('b', 1), hlc: -1 },
        { ...remoteOp('b', 1), collection: '' },
        { ...remoteOp('b', 1), key: '' },
        { ...remoteOp('b', 1), mutation: new Date() },
        { ...remoteOp('b', 1), mutation: { nested: undefined } },
      ];
      for (const op of bad) {
        await expect(log.append([remoteOp('c', 1), op as Op])).rejects.toMatchObject({ code: 'OP_INVALID' });
      }
      await expect(
        log.appendLocal([{ collection: 'c', key: 'k', mutation: new Map() as never }]),
      ).rejects.toMatchObject({
        code: 'OP_INVALID',
      });
      expect(log.versionVector.size).toBe(0);
    });

    it('refuses a remote timestamp beyond the skew limit with CLOCK_SKEW, appending nothing', async () => {
      const log = await openLog(await create(), { clock: { maxSkewMs: 1000 } });
      const ahead = remoteOp('b', 1, 'k', hlcFromWall(Date.now() + 60_000));
      await expect(log.append([ahead])).rejects.toMatchObject({ code: 'CLOCK_SKEW' });
      expect(log.versionVector.size).toBe(0);
      const nearlyAhead = remoteOp('b', 1, 'k', hlcFromWall(Date.now() + 500));
      await log.append([nearlyAhead]);
      const [local] = await log.appendLocal([write('after')]);
      expect(local?.hlc).toBeGreaterThan(nearlyAhead.hlc);
    });

    it('streams exactly what a version vector lacks, in log order (property)', async () => {
      const store = await create();
      const log = await openLog(store);
      const written: Op[] = [];
      const seqs = new Map<string, number>();
      const origins = ['a', 'b', 'c'];
      for (let i = 0; i < 60; i++) {
        const origin = origins[i % 3] as string;
        const batch = Array.from({ length: 1 + (i % 4) }, () => {
          const seq = (seqs.get(origin) ?? 0) + 1;
          seqs.set(origin, seq);
          return remoteOp(origin, seq);
        });
        if (origin === 'a') written.push(...(await log.appendLocal(batch.map((op) => write(op.key)))));
        else written.push(...(await log.append(batch)));
      }
      const full = VersionVector.from(seqs);
      expect(log.versionVector.equals(full)).toBe(true);
      await fc.assert(
        fc.asyncProperty(fc.tuple(fc.nat(40), fc.nat(40), fc.nat(40)), async ([x, y, z]) => {
          const since = VersionVector.from({ a: x, b: y, c: z });
          const expected = written.filter((op) => op.seq > since.get(op.origin));
          expect(dots(await readAll(log, since))).toEqual(dots(expected));
        }),
        propertyParameters(60),
      );
    });

    it('streams lazily, entry by entry', async () => {
      const log = await openLog(await create());
      for (let i = 0; i < 5; i++) await log.appendLocal([write(`k${i}`), write(`j${i}`)]);
      const chunks: LogChunk[] = [];
      for await (const chunk of log.readSince(VersionVector.EMPTY)) {
        chunks.push(chunk);
        if (chunks.length === 2) break;
      }
      expect(chunks.map((chunk) => chunk.ops.length)).toEqual([2, 2]);
      expect(chunks[1]?.lsn).toBeGreaterThan(chunks[0]?.lsn as number);
    });

    it('truncates below a watermark and refuses to serve what it dropped with LOG_TRUNCATED', async () => {
      const log = await openLog(await create());
      for (let i = 1; i <= 10; i++) {
        await log.appendLocal([write(`k${i}`)]);
        await log.append([remoteOp('b', i)]);
      }
      const result = await log.truncate(VersionVector.from({ a: 4, b: 6 }));
      expect(result.removedEntries).toBe(8);
      expect(log.baseVector.toJSON()).toEqual({ a: 4, b: 4 });
      expect(log.canServe(VersionVector.from({ a: 3, b: 9 }))).toBe(false);
      await expect(readAll(log, VersionVector.from({ a: 3, b: 9 }))).rejects.toMatchObject({
        code: 'LOG_TRUNCATED',
      });
      // entries alternate a:i, b:i; a peer at {a: 9, b: 4} lacks b5…b10 and a10, in log order
      expect(dots(await readAll(log, VersionVector.from({ a: 9, b: 4 })))).toEqual([
        'b:5',
        'b:6',
        'b:7',
        'b:8',
        'b:9',
        'a:10',
        'b:10',
      ]);
      expect(await log.verify()).toEqual({ entries: 12, ops: 12 });
      await log.truncate(log.versionVector);
      expect(await readAll(log, log.versionVector)).toEqual([]);
      expect(log.baseVector.equals(log.versionVector)).toBe(true);
      await log.appendLocal([write('after')]);
      expect(dots(await readAll(log, VersionVector.from({ a: 10, b: 10 })))).toEqual(['a:11']);
    });

    it('refuses local writes after refuseLocalWrites, and still appends other origins', async () => {
      const log = await openLog(await create());
      await log.appendLocal([write('x')]);
      const why = new DriftlessError('ORIGIN_REWOUND', 'peer b holds a:7');
      log.refuseLocalWrites(why);
      log.refuseLocalWrites(new DriftlessError('ORIGIN_REWOUND', 'a later one'));
      expect(log.localRefusal).toBe(why);
      await expect(log.appendLocal([write('y')])).rejects.toBe(why);
      expect(log.versionVector.toJSON(), 'no seq was taken').toEqual({ a: 1 });
      expect(dots(await log.append([remoteOp('b', 1)]))).toEqual(['b:1']);
      expect(log.versionVector.toJSON()).toEqual({ a: 1, b: 1 });
    });

    it('commits concurrent appends together (group commit) and resolves each once durable', async () => {
      const faulty = new FaultyStore(await create());
      const log = await openLog(faulty);
      const commitsBefore = faulty.commits;
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => log.appendLocal([write(`k${i}`)])),
      );
      expect(results.map(([op]) => op?.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(faulty.commits - commitsBefore).toBeLessThanOrEqual(2);
      expect(log.versionVector.get('a')).toBe(200);
    });

    it('never acknowledges a failed commit, refuses appends until reopened, and keeps what was durable', async () => {
      const inner = await create();
      const faulty = new FaultyStore(inner);
      const log = await openLog(faulty);
      await log.appendLocal([write('durable')]);
      faulty.failNextCommits(1);
      const failing = Promise.all([log.appendLocal([write('lost1')]), log.appendLocal([write('lost2')])]);
      await expect(failing).rejects.toMatchObject({ code: 'STORE_WRITE_FAILED' });
      await expect(log.appendLocal([write('later')])).rejects.toMatchObject({ code: 'LOG_FAILED' });
      expect(log.versionVector.get('a')).toBe(1);
      expect(log.failure?.code).toBe('STORE_WRITE_FAILED');
      const again = await openLog(await reopen(inner));
      expect(dots(await readAll(again))).toEqual(['a:1']);
      expect((await again.appendLocal([write('next')]))[0]?.seq).toBe(2);
    });

    it('commits extra writes in the same transaction as the ops', async () => {
      const store = await create();
      const log = await openLog(store);
      await log.appendLocal([write('x')], {
        writes: [{ table: 'state', key: 'x', value: new Uint8Array([42]) }],
      });
      expect([...((await store.get('state', 'x')) as Uint8Array)]).toEqual([42]);
      const faulty = new FaultyStore(store);
      const failing = await openLog(faulty);
      faulty.failNextCommits(1);
      await expect(
        failing.appendLocal([write('y')], {
          writes: [{ table: 'state', key: 'y', value: new Uint8Array([1]) }],
        }),
      ).rejects.toMatchObject({ code: 'STORE_WRITE_FAILED' });
      expect(await store.get('state', 'y')).toBeUndefined();
    });

    it('installs a state: the vector and base rise, later ops continue above it, and it survives reopen', async () => {
      const store = await create();
      const log = await openLog(store);
      await log.appendLocal([write('mine')]);
      await log.append([remoteOp('b', 1)]);
      const installed = VersionVector.from({ b: 5, c: 3 });
      await log.install(installed, [{ table: 'extra', key: 'state', value: new Uint8Array([7]) }]);
      expect(log.versionVector.toJSON()).toEqual({ a: 1, b: 5, c: 3 });
      expect(log.baseVector.toJSON()).toEqual({ b: 5, c: 3 });
      // Ops the install covered are known; the next ones of each origin follow it.
      expect(await log.append([remoteOp('b', 3), remoteOp('b', 6), remoteOp('c', 4)])).toHaveLength(2);
      await expect(log.append([remoteOp('c', 6)])).rejects.toMatchObject({ code: 'OP_GAP' });
      // A peer above the base is served from the log; one below it is not.
      expect(dots(await readAll(log, VersionVector.from({ b: 5, c: 3 })))).toEqual(['a:1', 'b:6', 'c:4']);
      expect(log.canServe(VersionVector.from({ b: 4, c: 3 }))).toBe(false);
      expect(await log.verify()).toMatchObject({ entries: 3 });
      await log.close();
      const reopened = await reopen(store);
      const again = await openLog(reopened);
      expect(again.versionVector.toJSON()).toEqual({ a: 1, b: 6, c: 4 });
      expect(again.baseVector.toJSON()).toEqual({ b: 5, c: 3 });
      expect(await again.verify()).toMatchObject({ entries: 3 });
      expect([...((await reopened.get('extra', 'state')) ?? [])]).toEqual([7]);
    });

    it('tells listeners about every durable entry, in order', async () => {
      const log = await openLog(await create());
      const seen: number[] = [];
      const stop = log.onAppend((chunk) => seen.push(...chunk.ops.map((op) => op.seq)));
      await Promise.all([log.appendLocal([write('x')]), log.appendLocal([write('y')])]);
      await log.appendLocal([write('z')]);
      stop();
      await log.appendLocal([write('w')]);
      expect(seen).toEqual([1, 2, 3]);
    });

    it('gives each entry its stored bytes, to listeners and to readers of whole entries', async () => {
      const store = await create();
      const log = await openLog(store);
      const heard: LogChunk[] = [];
      log.onAppend((chunk) => heard.push(chunk));
      await Promise.all([log.appendLocal([write('x')]), log.append([remoteOp('b', 1), remoteOp('b', 2)])]);
      await log.appendLocal([write('y')]);
      expect(heard.length).toBeGreaterThan(0);
      for (const chunk of heard) {
        expect(chunk.bytes, 'a durable entry carries its bytes').toBeDefined();
        expect([...((await store.get('log', chunk.lsn)) ?? [])]).toEqual([...(chunk.bytes ?? [])]);
        expect(decodeOps(chunk.bytes as Uint8Array)).toEqual(chunk.ops);
      }
      const whole: LogChunk[] = [];
      for await (const chunk of log.readSince(VersionVector.EMPTY)) whole.push(chunk);
      expect(whole.map((chunk) => [...(chunk.bytes ?? [])])).toEqual(
        heard.map((chunk) => [...(chunk.bytes ?? [])]),
      );
      // A reader lacking part of an entry gets those ops alone, without the entry's bytes.
      expect(heard.map((chunk) => dots(chunk.ops))).toEqual([['a:1', 'b:1', 'b:2'], ['a:2']]);
      const partial: LogChunk[] = [];
      for await (const chunk of log.readSince(VersionVector.from({ b: 1 }))) partial.push(chunk);
      expect(partial.map((chunk) => dots(chunk.ops))).toEqual([['a:1', 'b:2'], ['a:2']]);
      expect(partial[0]?.bytes).toBeUndefined();
      expect(partial[1]?.bytes).toBeDefined();
    });

    it('stores a batch given with its ops as their entry when every op is new, and re-encodes otherwise', async () => {
      const store = await create();
      const log = await openLog(store);
      const fresh = [remoteOp('b', 1), remoteOp('b', 2), remoteOp('c', 1)];
      const batch = encodeOps(fresh);
      const heard: LogChunk[] = [];
      log.onAppend((chunk) => heard.push(chunk));
      // Admitted together with a local write and another batch: each batch stays an entry of its own.
      const more = [remoteOp('c', 2), remoteOp('c', 3)];
      const moreBatch = encodeOps(more);
      await Promise.all([
        log.appendLocal([write('x')]),
        log.append(fresh, { batch }),
        log.appendLocal([write('y')]),
        log.append(more, { batch: moreBatch }),
      ]);
      const entries = heard.map((chunk) => dots(chunk.ops));
      expect(entries).toEqual([['a:1'], dots(fresh), ['a:2'], dots(more)]);
      expect(heard[1]?.bytes).toBe(batch);
      expect([...((await store.get('log', heard[1]?.lsn as number)) ?? [])]).toEqual([...batch]);
      // Some ops known already: only the new ones are stored, encoded afresh.
      const overlap = [remoteOp('c', 3), remoteOp('c', 4)];
      const [added] = await Promise.all([log.append(overlap, { batch: encodeOps(overlap) })]);
      expect(dots(added)).toEqual(['c:4']);
      const last = heard.at(-1) as LogChunk;
      expect(dots(decodeOps(last.bytes as Uint8Array))).toEqual(['c:4']);
      expect(await log.verify()).toMatchObject({ ops: 8 });
      const again = await openLog(await reopen(store));
      expect(dots(await readAll(again))).toEqual(['a:1', 'b:1', 'b:2', 'c:1', 'a:2', 'c:2', 'c:3', 'c:4']);
    });

    it('splits a large group into entries no larger than maxEntryBytes', async () => {
      const log = await openLog(await create(), { maxEntryBytes: 4096 });
      const big = 'x'.repeat(1000);
      await log.appendLocal(Array.from({ length: 20 }, (_, i) => write(`k${i}`, big)));
      const chunks: LogChunk[] = [];
      for await (const chunk of log.readSince(VersionVector.EMPTY)) chunks.push(chunk);
      expect(chunks.length).toBeGreaterThanOrEqual(5);
      expect(chunks.flatMap((chunk) => chunk.ops).map((op) => op.seq)).toEqual(
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
    });
  });
}
