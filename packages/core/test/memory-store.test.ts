import { MemoryStore, type Store } from '@driftless/core';
import { runOpLogConformance, runStoreConformance, type StoreHarness } from '@driftless/core/testing';
import { describe, expect, it } from 'vitest';

const harness: StoreHarness = {
  create: () => MemoryStore.open(),
  async reopen(store: Store) {
    await store.close();
    return MemoryStore.open((store as MemoryStore).volume);
  },
};

runStoreConformance('MemoryStore', harness);
runOpLogConformance('MemoryStore', harness);

describe('MemoryStore from JavaScript', () => {
  it('refuses a constructor call or a volume that is not one, at once, with INVALID_ARGUMENT', async () => {
    const Unchecked = MemoryStore as unknown as new (volume?: unknown) => MemoryStore;
    expect(() => new Unchecked()).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    await expect(MemoryStore.open({} as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
