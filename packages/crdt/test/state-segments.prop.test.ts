/**
 * Checkpoint segments (state-segments.ts) hold each key exactly as the state does: a plain register
 * as its stamp and value, any other entry inline. Checked over generated histories of several
 * flavours (see history.ts); a failure prints fast-check's seed; rerun with DRIFTLESS_SEED=<seed>.
 */
import { MemoryStore } from '@driftless/core';
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

describe('checkpoint segments', () => {
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
          const store = await MemoryStore.open();
          await store.commit(new SegmentLayout(0, 0, 0, []).writes(packer));
          const { entries } = await loadEntries(store);
          const loaded = ReplicaState.load(state.versionVector, state.collectedBelow, entries);
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
