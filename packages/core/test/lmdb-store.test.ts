import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '@driftless/core';
import { LmdbStore } from '@driftless/core/lmdb';
import { runOpLogConformance, runStoreConformance, type StoreHarness } from '@driftless/core/testing';
import { afterAll, describe, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'driftless-lmdb-'));
let next = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

const harness: StoreHarness = {
  create: () => LmdbStore.open(join(root, `store-${next++}`)),
  async reopen(store: Store) {
    await store.close();
    return LmdbStore.open((store as LmdbStore).path);
  },
};

runStoreConformance('LmdbStore', harness);
runOpLogConformance('LmdbStore', harness);

describe('LmdbStore data directories', () => {
  it('refuses a path that is a file with STORE_DATA_DIR', async () => {
    const file = join(root, 'a-file');
    writeFileSync(file, 'x');
    await expect(LmdbStore.open(file)).rejects.toMatchObject({ code: 'STORE_DATA_DIR' });
  });

  it('refuses a directory another live process holds, and one already open here', async () => {
    const dir = join(root, 'locked');
    const store = await LmdbStore.open(dir);
    await expect(LmdbStore.open(dir)).rejects.toMatchObject({ code: 'STORE_DATA_DIR' });
    await store.close();
    writeFileSync(join(dir, 'driftless.pid'), String(process.ppid));
    await expect(LmdbStore.open(dir)).rejects.toMatchObject({
      code: 'STORE_DATA_DIR',
      message: /in use by process/,
    });
    writeFileSync(join(dir, 'driftless.pid'), '999999999');
    const reclaimed = await LmdbStore.open(dir); // a stale lock from a dead process is taken over
    await reclaimed.close();
  });

  it('reports a data file that is not LMDB, or cut short, as STORE_CORRUPT instead of crashing', async () => {
    const garbage = join(root, 'garbage');
    const store = await LmdbStore.open(garbage);
    await store.commit([{ table: 't', key: 1, value: new Uint8Array(5000) }]);
    await store.close();
    writeFileSync(join(garbage, 'data.mdb'), Buffer.alloc(20_000, 7));
    await expect(LmdbStore.open(garbage)).rejects.toMatchObject({ code: 'STORE_CORRUPT' });

    const cut = join(root, 'cut');
    const full = await LmdbStore.open(cut);
    await full.commit(
      Array.from({ length: 50 }, (_, i) => ({ table: 't', key: i, value: new Uint8Array(2000) })),
    );
    await full.close();
    const { truncateSync } = await import('node:fs');
    truncateSync(join(cut, 'data.mdb'), 8192);
    await expect(LmdbStore.open(cut)).rejects.toMatchObject({ code: 'STORE_CORRUPT', message: /cut short/ });
  });
});
