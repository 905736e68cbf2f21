import { MemoryStore, type Store } from '@driftless/core';
import { runOpLogConformance, runStoreConformance, type StoreHarness } from '@driftless/core/testing';

const harness: StoreHarness = {
  create: () => MemoryStore.open(),
  async reopen(store: Store) {
    await store.close();
    return MemoryStore.open((store as MemoryStore).volume);
  },
};

runStoreConformance('MemoryStore', harness);
runOpLogConformance('MemoryStore', harness);
