/**
 * `npm start` until the node package lands: a small, real demonstration of @driftless/core.
 * Two nodes, each with its own durable LMDB op log, write concurrently, then catch each other up
 * by streaming exactly what the other's version vector lacks; the logs are truncated below what
 * both hold, closed, reopened, and checked.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpLog, VersionVector } from '@driftless/core';
import { LmdbStore } from '@driftless/core/lmdb';

const WRITES_PER_NODE = 20_000;
const BATCH = 500;
const dir = mkdtempSync(join(tmpdir(), 'driftless-demo-'));

async function openNode(id: string) {
  const store = await LmdbStore.open(join(dir, id));
  return { id, store, log: await OpLog.open({ store, nodeId: id }) };
}

/** Streams into `to` every op `from` holds that `to` lacks; returns how many. */
async function catchUp(from: OpLog, to: OpLog): Promise<number> {
  let count = 0;
  for await (const chunk of from.readSince(to.versionVector)) {
    count += (await to.append(chunk.ops)).length;
  }
  return count;
}

try {
  console.log(`Driftless core demo: two nodes with durable LMDB op logs under ${dir}\n`);
  let [a, b] = [await openNode('berlin'), await openNode('tokyo')];

  const started = performance.now();
  await Promise.all(
    [a, b].map(async ({ id, log }) => {
      for (let i = 0; i < WRITES_PER_NODE; i += BATCH) {
        const writes = Array.from({ length: BATCH }, (_, j) => ({
          collection: 'sensors',
          key: `${id}-${(i + j) % 1000}`,
          mutation: [0, { reading: i + j, at: id }],
        }));
        await log.appendLocal(writes);
      }
    }),
  );
  const writeMs = performance.now() - started;
  const total = 2 * WRITES_PER_NODE;
  console.log(
    `wrote ${total} ops durably in ${writeMs.toFixed(0)} ms (${Math.round(total / (writeMs / 1000))} ops/s)`,
  );
  console.log(
    `  berlin ${JSON.stringify(a.log.versionVector)}   tokyo ${JSON.stringify(b.log.versionVector)}`,
  );
  console.log(`  vectors are ${a.log.versionVector.compare(b.log.versionVector)}`);

  const toTokyo = await catchUp(a.log, b.log);
  const toBerlin = await catchUp(b.log, a.log);
  console.log(`\ncatch-up: ${toTokyo} ops berlin → tokyo, ${toBerlin} ops tokyo → berlin`);
  console.log(
    `  vectors are now ${a.log.versionVector.compare(b.log.versionVector)}: ${JSON.stringify(a.log.versionVector)}`,
  );
  console.log(
    `  a second catch-up sends ${(await catchUp(a.log, b.log)) + (await catchUp(b.log, a.log))} ops`,
  );

  const both = a.log.versionVector.meet(b.log.versionVector);
  const watermark = VersionVector.from(both.entries().map(([origin, seq]) => [origin, seq - 1000]));
  const { removedEntries, base } = await a.log.truncate(watermark);
  console.log(
    `\ntruncated berlin's log below ${JSON.stringify(watermark)}: ${removedEntries} entries removed`,
  );
  console.log(
    `  a peer at the empty vector can be served from the log: ${a.log.canServe(VersionVector.EMPTY)}`,
  );
  console.log(`  a peer at the watermark can: ${a.log.canServe(base)}`);

  for (const node of [a, b]) {
    await node.log.close();
    await node.store.close();
  }
  [a, b] = [await openNode('berlin'), await openNode('tokyo')];
  const checks = await Promise.all([a.log.verify(), b.log.verify()]);
  console.log('\nreopened both logs from disk:');
  console.log(`  berlin ${JSON.stringify(a.log.versionVector)}, ${checks[0].entries} entries verified`);
  console.log(`  tokyo  ${JSON.stringify(b.log.versionVector)}, ${checks[1].entries} entries verified`);
  console.log(`  converged: ${a.log.versionVector.equals(b.log.versionVector)}`);
  for (const node of [a, b]) await node.store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
