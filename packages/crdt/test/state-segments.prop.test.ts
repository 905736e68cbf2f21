/**
 * Checkpoint segments (state-segments.ts) hold each key exactly as the state does: a plain register
 * as its stamp and value, any other entry inline. Checked over generated histories of several
 * flavours (see history.ts); a failure prints fast-check's seed; rerun with DRIFTLESS_SEED=<seed>.
 */
import { MemoryStore, type Value } from '@driftless/core';
import { propertyParameters } from '@driftless/core/testing';
import { ReplicaState } from '@driftless/crdt';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadEntries } from '../src/segment-load.js';
import { encodeEntry, plainRegister, plainRegisterEntry } from '../src/snapshot.js';
import { SegmentLayout, SegmentPacker } from '../src/state-segments.js';
import { type Flavour, runScript, type Script, scriptOf, stateAt, wholeOf } from './history.js';

const RUNS = 300;
const FLAVOURS: readonly Flavour[] = ['register', 'mixed', 'document', 'counter'];

/** The state holding every op of a generated history. */
function finalState(flavour: Flavour, script: Script): ReplicaState {
  const history = runScript(flavour, script);
  return stateAt(history, wholeOf(history), 0);
}

/** Reads every key of a packer's segments back from a store, as a ReplicaState. */
async function readBack(state: ReplicaState, packer: SegmentPacker): Promise<ReplicaState> {
  const store = await MemoryStore.open();
  await store.commit(new SegmentLayout(0, 0, 0, []).writes(packer));
  const { entries } = await loadEntries(store);
  return ReplicaState.load(state.versionVector, state.collectedBelow, entries);
}

describe('checkpoint segments', () => {
  // Format 4 joins a segment's keys, and its string registers' values, into one string each:
  // keys and values of any characters (astral ones too, two UTF-16 units each) and of any length
  // split back where they were joined, across segments (256 keys, or 256 KiB, each), and
  // timestamps in any order come back from their deltas.
  it('keys and string values of any characters and lengths read back as written', async () => {
    const text = fc.string({ unit: 'binary', maxLength: 40 });
    const write = fc.record({
      key: fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
      collection: fc.constantFrom('docs', 'other'),
      origin: fc.constantFrom('a', 'b', 'c'),
      hlc: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      value: fc.oneof(
        { weight: 4, arbitrary: text },
        { weight: 1, arbitrary: fc.string({ minLength: 3_000, maxLength: 3_000 }) },
        { weight: 1, arbitrary: fc.constantFrom<Value>(1, null, [1, 'x'], { f: 'y' }) },
      ),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(write, { maxLength: 600 }), fc.boolean(), async (writes, compaction) => {
        const state = new ReplicaState();
        const seqs = new Map<string, number>();
        for (const { key, collection, origin, hlc, value } of writes) {
          const seq = (seqs.get(origin) ?? 0) + 1;
          seqs.set(origin, seq);
          state.apply({ origin, seq, hlc, collection, key, mutation: [0, value] });
        }
        const packer = new SegmentPacker(compaction);
        for (const [collection, key, entry] of state.keyEntries()) packer.add(collection, key, entry);
        const loaded = await readBack(state, packer);
        expect(loaded.keyCount).toBe(state.keyCount);
        expect(loaded.digest()).toBe(state.digest());
      }),
      propertyParameters(100),
    );
  });

  for (const flavour of FLAVOURS) {
    it(`a plain register's cell stands for exactly its entry (${flavour})`, () => {
      let plain = 0;
      fc.assert(
        fc.property(scriptOf(flavour), (script) => {
          for (const [, , entry] of finalState(flavour, script).keyEntries()) {
            const register = plainRegister(entry);
            if (register === undefined) continue;
            plain++;
            const { hlc, origin, seq } = register.stamp as { hlc: number; origin: string; seq: number };
            expect(plainRegisterEntry(hlc, origin, seq, register.value ?? null)).toEqual(encodeEntry(entry));
          }
        }),
        propertyParameters(RUNS),
      );
      if (flavour === 'register' || flavour === 'mixed')
        expect(plain, 'the histories left plain registers').toBeGreaterThan(0);
    });

    it(`every key written to segments reads back as its entry (${flavour})`, async () => {
      await fc.assert(
        fc.asyncProperty(scriptOf(flavour), fc.boolean(), async (script, compaction) => {
          const state = finalState(flavour, script);
          const keys = [...state.keyEntries()];
          const packer = new SegmentPacker(compaction);
          for (const [collection, key, entry] of keys) packer.add(collection, key, entry);
          // A later cell of a key overrides its earlier one; a compaction writes no empty keys.
          const emptied = compaction ? undefined : keys[0];
          if (emptied) packer.add(emptied[0], emptied[1], undefined);
          const loaded = await readBack(state, packer);
          const held = keys.filter((key) => key !== emptied);
          expect(loaded.keyCount).toBe(held.length);
          // Compared encoded: bytes in an entry come back as Buffers.
          const hex = (bytes: Uint8Array | undefined) => bytes && Buffer.from(bytes).toString('hex');
          for (const [collection, key] of held) {
            expect(hex(loaded.encodedEntry(collection, key)), `${collection}/${key}`).toBe(
              hex(state.encodedEntry(collection, key)),
            );
          }
        }),
        propertyParameters(RUNS),
      );
    });
  }
});
