import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { compareUtf8, type Store, type StoreKey } from '../store.js';
import { propertyParameters } from './seed.js';

/** How the conformance suite gets stores of the backend under test. */
export interface StoreHarness {
  /** Opens a new, empty store. */
  create(): Promise<Store>;
  /** Closes `store` and opens the same data again, as a restarted process would. */
  reopen(store: Store): Promise<Store>;
}

const bytes = (text: string) => new TextEncoder().encode(text);

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return -1;
}
const text = (value: Uint8Array | undefined) =>
  value === undefined ? undefined : new TextDecoder().decode(value);

async function collect(iterable: AsyncIterable<{ key: StoreKey; value: Uint8Array }>) {
  const entries: [StoreKey, string | undefined][] = [];
  for await (const { key, value } of iterable) entries.push([key, text(value)]);
  return entries;
}

/**
 * The contract every Store implementation must meet. Call it from a vitest file of the backend:
 * `runStoreConformance('LmdbStore', harness)`.
 */
export function runStoreConformance(name: string, harness: StoreHarness): void {
  describe(`Store conformance: ${name}`, () => {
    const open: Store[] = [];
    const create = async () => {
      const store = await harness.create();
      open.push(store);
      return store;
    };
    const reopen = async (store: Store) => {
      const again = await harness.reopen(store);
      open.push(again);
      return again;
    };
    afterEach(async () => {
      for (const store of open.splice(0)) await store.close().catch(() => undefined);
    });

    it('reads back what a commit wrote, and nothing for a missing key', async () => {
      const store = await create();
      await store.commit([{ table: 'alpha', key: 'k', value: bytes('v') }]);
      expect(text(await store.get('alpha', 'k'))).toBe('v');
      expect(await store.get('alpha', 'missing')).toBeUndefined();
      expect(await store.get('beta', 'k')).toBeUndefined();
    });

    it('accepts string keys up to 1,978 UTF-8 bytes and refuses longer ones', async () => {
      const store = await create();
      const longest = 'é'.repeat(989); // 1,978 bytes
      await store.commit([{ table: 't', key: longest, value: bytes('v') }]);
      expect(text(await store.get('t', longest))).toBe('v');
      await expect(
        store.commit([{ table: 't', key: `${longest}x`, value: bytes('v') }]),
      ).rejects.toMatchObject({
        code: 'STORE_INVALID_WRITE',
      });
    });

    it('overwrites and deletes', async () => {
      const store = await create();
      await store.commit([{ table: 't', key: 1, value: bytes('a') }]);
      await store.commit([{ table: 't', key: 1, value: bytes('b') }]);
      expect(text(await store.get('t', 1))).toBe('b');
      await store.commit([{ table: 't', key: 1, value: undefined }]);
      expect(await store.get('t', 1)).toBeUndefined();
      await store.commit([{ table: 't', key: 2, value: undefined }]);
    });

    it('applies a commit across tables as a whole', async () => {
      const store = await create();
      await store.commit([
        { table: 'one', key: 'a', value: bytes('1') },
        { table: 'two', key: 'a', value: bytes('2') },
        { table: 'one', key: 'a', value: bytes('3') },
      ]);
      expect(text(await store.get('one', 'a'))).toBe('3');
      expect(text(await store.get('two', 'a'))).toBe('2');
    });

    it('refuses a malformed commit with STORE_INVALID_WRITE and applies none of it', async () => {
      const store = await create();
      await store.commit([{ table: 't', key: 'kept', value: bytes('old') }]);
      const malformed = [
        [
          { table: 't', key: 'kept', value: bytes('new') },
          { table: 'Bad Name', key: 'x', value: bytes('x') },
        ],
        [
          { table: 't', key: 'kept', value: bytes('new') },
          { table: 't', key: 'x', value: 'not bytes' },
        ],
        [
          { table: 't', key: 'kept', value: bytes('new') },
          { table: 't', key: Number.NaN, value: bytes('x') },
        ],
        [{ table: 't', key: '', value: bytes('x') }],
      ];
      for (const writes of malformed) {
        // biome-ignore lint/suspicious/noExplicitAny: deliberately malformed input
        await expect(store.commit(writes as any)).rejects.toMatchObject({ code: 'STORE_INVALID_WRITE' });
      }
      expect(text(await store.get('t', 'kept'))).toBe('old');
      expect(await store.get('t', 'x')).toBeUndefined();
    });

    it('orders numeric keys numerically', async () => {
      const store = await create();
      const keys = [2 ** 40, 10, 0, 1.5, 1, 2, 1e6, 2 ** 52 + 1];
      await store.commit(keys.map((key) => ({ table: 'n', key, value: bytes(String(key)) })));
      const read = await collect(store.range('n'));
      expect(read.map(([key]) => key)).toEqual([...keys].sort((a, b) => a - b));
    });

    it('orders string keys by their UTF-8 bytes', async () => {
      const store = await create();
      const keys = ['b', 'a', 'aa', 'a/b', 'a0', 'é', 'Z', '0', '\uffff', '😀', 'z\u0000', 'ｚ', 'a-b/1'];
      await store.commit(keys.map((key) => ({ table: 's', key, value: bytes(key) })));
      const read = await collect(store.range('s'));
      const byUtf8 = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      expect(read.map(([key]) => key)).toEqual(byUtf8);
      expect([...keys].sort(compareUtf8)).toEqual(byUtf8);
    });

    it('reads ranges with bounds, direction and limit', async () => {
      const store = await create();
      await store.commit([1, 2, 3, 4, 5].map((key) => ({ table: 'r', key, value: bytes(`v${key}`) })));
      const keysOf = async (options: Parameters<Store['range']>[1]) =>
        (await collect(store.range('r', options))).map(([key]) => key);
      expect(await keysOf({})).toEqual([1, 2, 3, 4, 5]);
      expect(await keysOf({ start: 2, end: 4 })).toEqual([2, 3]);
      expect(await keysOf({ start: 2.5 })).toEqual([3, 4, 5]);
      expect(await keysOf({ end: 3 })).toEqual([1, 2]);
      expect(await keysOf({ limit: 2 })).toEqual([1, 2]);
      expect(await keysOf({ reverse: true })).toEqual([5, 4, 3, 2, 1]);
      expect(await keysOf({ reverse: true, start: 4, end: 1 })).toEqual([4, 3, 2]);
      expect(await keysOf({ reverse: true, start: 3.5, limit: 1 })).toEqual([3]);
      expect(await keysOf({ start: 9 })).toEqual([]);
      expect(await collect(store.range('empty'))).toEqual([]);
    });

    it('keeps what it stored independent of the caller’s buffers', async () => {
      const store = await create();
      const value = bytes('original');
      await store.commit([{ table: 't', key: 'k', value }]);
      value.fill(0);
      const read = (await store.get('t', 'k')) as Uint8Array;
      expect(text(read)).toBe('original');
      read.fill(0);
      expect(text(await store.get('t', 'k'))).toBe('original');
      const first = await collect(store.range('t'));
      expect(first).toEqual([['k', 'original']]);
    });

    it('round-trips a 1 MiB value and an empty one', async () => {
      const store = await create();
      const big = new Uint8Array(1024 * 1024).map((_, i) => i % 251);
      await store.commit([
        { table: 't', key: 'big', value: big },
        { table: 't', key: 'empty', value: new Uint8Array(0) },
      ]);
      const read = (await store.get('t', 'big')) as Uint8Array;
      expect(read.length).toBe(big.length);
      // Compared byte by byte here: a deep toEqual over 1 MiB takes seconds.
      expect(firstDifference(read, big), 'first differing byte').toBe(-1);
      expect((await store.get('t', 'empty'))?.length).toBe(0);
    });

    it('resolves every one of many concurrent commits, each visible afterwards', async () => {
      const store = await create();
      await Promise.all(
        Array.from({ length: 300 }, (_, i) => store.commit([{ table: 'c', key: i, value: bytes(`v${i}`) }])),
      );
      const read = await collect(store.range('c'));
      expect(read).toHaveLength(300);
      expect(read[299]).toEqual([299, 'v299']);
    });

    it('keeps reading a range while commits land', async () => {
      const store = await create();
      await store.commit(Array.from({ length: 50 }, (_, i) => ({ table: 'w', key: i, value: bytes('x') })));
      let seen = 0;
      for await (const { key } of store.range('w')) {
        seen++;
        if (key === 10) await store.commit([{ table: 'w', key: 1000, value: bytes('late') }]);
        if (key === 20) await store.commit([{ table: 'w', key: 30, value: undefined }]);
      }
      expect(seen).toBeGreaterThanOrEqual(49);
    });

    it('keeps committed data across a close and reopen', async () => {
      const store = await create();
      await store.commit([
        { table: 'p', key: 'a', value: bytes('1') },
        { table: 'q', key: 7, value: bytes('2') },
      ]);
      const again = await reopen(store);
      expect(text(await again.get('p', 'a'))).toBe('1');
      expect(await collect(again.range('q'))).toEqual([[7, '2']]);
    });

    it('refuses every call once closed, with STORE_CLOSED', async () => {
      const store = await create();
      await store.close();
      await expect(store.commit([])).rejects.toMatchObject({ code: 'STORE_CLOSED' });
      await expect(store.get('t', 'k')).rejects.toMatchObject({ code: 'STORE_CLOSED' });
      await expect(collect(store.range('t'))).rejects.toMatchObject({ code: 'STORE_CLOSED' });
    });

    it('matches a model map under any sequence of commits (property)', async () => {
      const key = fc.oneof(fc.string({ minLength: 1, maxLength: 6 }), fc.constantFrom('a', 'b', 'aa', 'é'));
      const write = fc.record({ key, value: fc.option(fc.string({ maxLength: 4 }), { nil: undefined }) });
      const parameters = propertyParameters(25);
      await fc.assert(
        fc.asyncProperty(fc.array(fc.array(write, { maxLength: 6 }), { maxLength: 12 }), async (commits) => {
          const store = await create();
          const model = new Map<string, string>();
          for (const writes of commits) {
            await store.commit(
              writes.map(({ key, value }) => ({
                table: 'm',
                key,
                value: value === undefined ? undefined : bytes(value),
              })),
            );
            for (const { key, value } of writes)
              value === undefined ? model.delete(key) : model.set(key, value);
          }
          const expected = [...model].sort(([a], [b]) => compareUtf8(a, b));
          expect(await collect(store.range('m'))).toEqual(expected);
          expect(await collect(store.range('m', { reverse: true }))).toEqual([...expected].reverse());
          await store.close();
        }),
        parameters,
      );
    });
  });
}
