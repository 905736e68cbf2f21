/**
 * Listing a collection: keys in UTF-8 byte order, paged by prefix, limit and cursor, and the
 * listing arguments refused.
 */
import { MAX_LIST_LIMIT, ReplicaState } from '@driftless/crdt';
import { describe, expect, it } from 'vitest';
import { DEL, replicas, set } from './types-fixtures.js';

describe('list()', () => {
  it('lists keys in UTF-8 byte order, not UTF-16 code-unit order', () => {
    const [a] = replicas();
    const keys = ['b', 'a', '😀', 'B', '\uFFFF', 'ab', 'é'];
    for (const [i, key] of keys.entries()) a.write(key, set(i), 100 + i);
    // '😀' is a surrogate pair: first in UTF-16 order below U+FFFF, but last in UTF-8 (F0 …).
    expect(a.state.list('docs').items.map((item) => item.key)).toEqual([
      'B',
      'a',
      'ab',
      'b',
      'é',
      '\uFFFF',
      '😀',
    ]);
    expect(a.state.list('docs', { prefix: 'a' }).items).toEqual([
      { key: 'a', type: 'register', value: 1 },
      { key: 'ab', type: 'register', value: 5 },
    ]);
  });

  it('prefix, limit and cursor page through every present key once, skipping deleted keys', () => {
    const [a] = replicas();
    const keys = Array.from({ length: 12 }, (_, i) => `item:${String(i).padStart(2, '0')}`);
    let hlc = 100;
    for (const key of ['iteл', 'item', 'ite', 'other', ...keys]) a.write(key, set(key), hlc++);
    for (const key of ['item:02', 'item:03', 'item:07', 'item:11']) a.write(key, DEL, hlc++);
    const present = keys.filter((key) => !['item:02', 'item:03', 'item:07', 'item:11'].includes(key));
    for (const limit of [1, 2, 3, 5, 100]) {
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 20; page++) {
        const result = a.state.list('docs', {
          prefix: 'item:',
          limit,
          ...(cursor === undefined ? {} : { cursor }),
        });
        expect(result.items.length).toBeLessThanOrEqual(limit);
        seen.push(...result.items.map((item) => item.key));
        cursor = result.cursor;
        if (cursor === undefined) break;
      }
      expect(cursor, `limit ${limit}: the last page has no cursor`).toBeUndefined();
      expect(seen, `limit ${limit}`).toEqual(present);
    }
    expect(a.state.get('docs', 'item:03')).toBeUndefined();
  });
});

describe('listing arguments', () => {
  it('refuses a limit that is not a whole number from 1 to MAX_LIST_LIMIT, and non-string cursors', () => {
    const state = new ReplicaState();
    for (const limit of [0, -1, 1.5, Number.NaN, MAX_LIST_LIMIT + 1]) {
      expect(() => state.list('docs', { limit })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    }
    expect(() => state.list('docs', { cursor: 5 as unknown as string })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(state.list('docs', { limit: MAX_LIST_LIMIT })).toEqual({ items: [] });
  });
});
