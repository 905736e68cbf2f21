import { propertyParameters } from '@driftless/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyTable } from '../src/key-table.js';

/**
 * KeyTable against a Map, its model: the same lookups, sizes and iteration order, and iterations
 * that run while the table changes yield what a Map's iterator yields in the same place.
 */

type Command =
  | { readonly do: 'set'; readonly key: string; readonly value: number }
  | { readonly do: 'delete'; readonly key: string }
  | { readonly do: 'get'; readonly key: string }
  | { readonly do: 'start' }
  | { readonly do: 'step'; readonly steps: number }
  | { readonly do: 'stop' };

// Few distinct keys, so keys come back after a delete; up to 40 of them, so tables rebuild.
const keyArbitrary = fc.oneof(
  fc.integer({ min: 0, max: 39 }).map((n) => `k${n}`),
  fc.constantFrom('', 'é', '\u{1F600}', 'a'.repeat(512)),
);
const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ do: fc.constant('set'), key: keyArbitrary, value: fc.integer() }) },
  { weight: 3, arbitrary: fc.record({ do: fc.constant('delete'), key: keyArbitrary }) },
  { weight: 2, arbitrary: fc.record({ do: fc.constant('get'), key: keyArbitrary }) },
  { weight: 1, arbitrary: fc.record({ do: fc.constant('start') }) },
  { weight: 2, arbitrary: fc.record({ do: fc.constant('step'), steps: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ do: fc.constant('stop') }) },
) as fc.Arbitrary<Command>;

/** Runs `commands` on a table and on a Map side by side, with at most one iteration of each at a time. */
function check(commands: readonly Command[], seed: number): void {
  const table = new KeyTable<number>(seed);
  const model = new Map<string, number>();
  let walks: { table: Iterator<[string, number]>; model: Iterator<[string, number]> } | undefined;
  for (const command of commands) {
    switch (command.do) {
      case 'set':
        expect(table.set(command.key, command.value)).toBe(table);
        model.set(command.key, command.value);
        break;
      case 'delete':
        expect(table.delete(command.key)).toBe(model.delete(command.key));
        break;
      case 'get':
        expect(table.get(command.key)).toBe(model.get(command.key));
        expect(table.has(command.key)).toBe(model.has(command.key));
        break;
      case 'start':
        walks?.table.return?.();
        walks = { table: table.entries(), model: model.entries() };
        break;
      case 'step':
        for (let i = 0; walks && i < command.steps; i++)
          expect(walks.table.next()).toEqual(walks.model.next());
        break;
      case 'stop':
        walks?.table.return?.();
        walks = undefined;
        break;
    }
    expect(table.size).toBe(model.size);
  }
  if (walks) {
    // The rest of an iteration left running, then a fresh one.
    expect([...iterable(walks.table)]).toEqual([...iterable(walks.model)]);
  }
  expect([...table]).toEqual([...model]);
  expect([...table.keys()]).toEqual([...model.keys()]);
  expect([...table.values()]).toEqual([...model.values()]);
}

function iterable<T>(iterator: Iterator<T>): Iterable<T> {
  return { [Symbol.iterator]: () => iterator };
}

describe('KeyTable', () => {
  const parameters = propertyParameters(300);
  it(`behaves as a Map, iterations under changes included (fast-check seed ${parameters.seed})`, () => {
    fc.assert(
      fc.property(
        fc.array(commandArbitrary, { maxLength: 400, size: 'max' }),
        fc.integer(),
        (commands, seed) => check(commands, seed),
      ),
      parameters,
    );
  });

  it('holds many keys through growth, mass deletes and re-adds', () => {
    const table = new KeyTable<number>(7);
    const keys = Array.from({ length: 20_000 }, (_, i) => `key-${(i * 7919) % 20_000}`);
    const kept = (i: number) => i % 10 === 0;
    for (const [i, key] of keys.entries()) table.set(key, i);
    expect(table.size).toBe(20_000);
    expect(keys.map((key) => table.get(key))).toEqual(keys.map((_, i) => i));
    // Deleting most keys shrinks the table (a rebuild) without losing the rest or their order.
    for (const [i, key] of keys.entries()) if (!kept(i)) table.delete(key);
    expect([...table.keys()]).toEqual(keys.filter((_, i) => kept(i)));
    expect(keys.map((key) => table.get(key))).toEqual(keys.map((_, i) => (kept(i) ? i : undefined)));
    for (const [i, key] of keys.entries()) if (!kept(i)) table.set(key, -i);
    expect(table.size).toBe(20_000);
    expect([...table]).toEqual([
      ...keys.flatMap((key, i) => (kept(i) ? [[key, i]] : [])),
      ...keys.flatMap((key, i) => (kept(i) ? [] : [[key, -i]])),
    ]);
  });

  it('keeps an iteration in place while keys are deleted and the table grows under it', () => {
    const table = new KeyTable<number>(11);
    for (let i = 0; i < 1000; i++) table.set(`k${i}`, i);
    const walk = table.keys();
    const seen: string[] = [];
    for (let i = 0; i < 500; i++) seen.push(walk.next().value as string);
    // Behind the walk and ahead of it; then enough new keys for several rebuilds.
    for (let i = 0; i < 1000; i += 2) table.delete(`k${i}`);
    for (let i = 1000; i < 5000; i++) table.set(`k${i}`, i);
    seen.push(...iterable(walk));
    const expected = [
      ...Array.from({ length: 500 }, (_, i) => `k${i}`),
      ...Array.from({ length: 250 }, (_, i) => `k${501 + 2 * i}`),
      ...Array.from({ length: 4000 }, (_, i) => `k${1000 + i}`),
    ];
    expect(seen).toEqual(expected);
    expect(table.size).toBe(4500);
  });
});
