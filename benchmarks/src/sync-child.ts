/**
 * A node process of the replication benchmarks (spawned by sync-process.ts over IPC): runs one end
 * of one system (sync-driftless.ts, sync-raw.ts, sync-yjs.ts) and answers the parent's requests
 * (sync-server.ts).
 *
 *   node --conditions=@driftless/source --import tsx benchmarks/src/sync-child.ts \
 *     --system=driftless-memory --role=receiver --node-id=b --listen=true --peers= --dir= --ops=0
 */
import { parseArgs } from 'node:util';
import { startDriftless } from './sync-driftless.js';
import { type ChildOptions, SYSTEMS } from './sync-ipc.js';
import { startRaw } from './sync-raw.js';
import { serveParent } from './sync-server.js';
import { makeWorkload, NODE_A, WRITE_WINDOW } from './sync-workload.js';
import { startYjs } from './sync-yjs.js';

/** Reads the command line; throws on anything unexpected. */
function parseOptions(args: readonly string[]): ChildOptions {
  const { values } = parseArgs({
    args: [...args],
    options: {
      system: { type: 'string' },
      role: { type: 'string' },
      'node-id': { type: 'string' },
      listen: { type: 'string' },
      peers: { type: 'string', default: '' },
      dir: { type: 'string', default: '' },
      ops: { type: 'string', default: '0' },
      window: { type: 'string', default: String(WRITE_WINDOW) },
    },
    strict: true,
    allowPositionals: false,
  });
  const system = SYSTEMS.find((name) => name === values.system);
  const role = (['sender', 'receiver', 'mesh'] as const).find((name) => name === values.role);
  const ops = Number(values.ops);
  const window = Number(values.window);
  if (
    system === undefined ||
    role === undefined ||
    values['node-id'] === undefined ||
    !Number.isSafeInteger(ops) ||
    !Number.isSafeInteger(window)
  )
    throw new Error(
      `usage: sync-child.ts --system=${SYSTEMS.join('|')} --role=sender|receiver|mesh --node-id=ID …`,
    );
  return {
    system,
    role,
    nodeId: values['node-id'],
    listen: values.listen === 'true',
    peers: values.peers === '' ? [] : values.peers.split(','),
    dir: values.dir === '' ? undefined : values.dir,
    ops,
    window,
  };
}

const options = parseOptions(process.argv.slice(2));
const writes = options.role === 'sender' || (options.role === 'mesh' && options.nodeId === NODE_A);
const start = options.system === 'raw' ? startRaw : options.system === 'yjs' ? startYjs : startDriftless;
await serveParent(
  () => start(options, writes ? makeWorkload(options.ops) : undefined),
  options.role !== 'sender',
  'sync-child.ts',
);
