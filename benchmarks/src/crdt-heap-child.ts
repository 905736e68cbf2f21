/**
 * One measurement of figure 4, in a process of its own (spawned by crdt-heap.ts with --expose-gc):
 * builds one system's state of N keys, between two full collections, and prints what it cost as one
 * JSON line. A fresh process per system keeps each measurement clear of the others' garbage and,
 * for Automerge, of WebAssembly memory grown earlier (linear memory never shrinks).
 *
 *   node --expose-gc --conditions=@driftless/source --import tsx benchmarks/src/crdt-heap-child.ts \
 *     --system Driftless --keys 1000000
 */
import { parseArgs } from 'node:util';
import type { SystemName } from './crdt-contender.js';
import type { HeapMeasurement } from './crdt-heap.js';
import { keyOf } from './crdt-workload.js';
import { measureResources } from './report.js';

/** Keys per Yjs transaction and per Automerge change while building. */
export const BUILD_BATCH_KEYS = 1000;

/** The part of the WebAssembly API this file uses (the project's libs do not declare it). */
interface WasmApi {
  Instance: new (...args: never[]) => { readonly exports: Readonly<Record<string, unknown>> };
}

/** A memory of an instance created after `watchWasmMemories` was called. */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}

/** Records the exported memory of every WebAssembly instance created from now on. */
function watchWasmMemories(): WasmMemory[] {
  const memories: WasmMemory[] = [];
  const wasm = Reflect.get(globalThis, 'WebAssembly') as WasmApi;
  wasm.Instance = new Proxy(wasm.Instance, {
    construct(target, args, newTarget) {
      const instance = Reflect.construct(target, args, newTarget) as InstanceType<WasmApi['Instance']>;
      const memory = instance.exports.memory;
      if (memory !== undefined) memories.push(memory as WasmMemory);
      return instance;
    },
  });
  return memories;
}

/** Full collections until heapUsed stops shrinking. */
function settle(): NodeJS.MemoryUsage {
  const gc = Reflect.get(globalThis, 'gc') as (() => void) | undefined;
  if (gc === undefined) throw new Error('run with node --expose-gc');
  gc();
  gc();
  return process.memoryUsage();
}

/** A built state, kept alive until `check` has run after the second measurement. */
interface Built {
  check(): void;
  /** Automerge: the JS view of the document's root, as a document would hold it. */
  materialize?(): unknown;
}

/** Driftless: one op per key, prepared and applied by the replica that writes it. */
async function buildDriftless(keys: number): Promise<Built> {
  const { driftless } = await import('./crdt-driftless.js');
  const replica = driftless.open(0);
  for (let i = 0; i < keys; i++) replica.set(keyOf(i), i);
  return { check: () => expectValue(replica.read(keyOf(keys - 1)), keys - 1) };
}

/** Yjs: one Y.Map, a transaction per BUILD_BATCH_KEYS keys. */
async function buildYjs(keys: number): Promise<Built> {
  const Y = await import('yjs');
  const doc = new Y.Doc();
  const map = doc.getMap<number>('m');
  for (let start = 0; start < keys; start += BUILD_BATCH_KEYS) {
    doc.transact(() => {
      for (let i = start; i < Math.min(keys, start + BUILD_BATCH_KEYS); i++) map.set(keyOf(i), i);
    });
  }
  return { check: () => expectValue(map.get(keyOf(keys - 1)), keys - 1) };
}

/** Automerge: the document's backend, a change per BUILD_BATCH_KEYS keys. */
async function buildAutomerge(keys: number): Promise<Built> {
  const Automerge = await import('@automerge/automerge');
  const backend = Automerge.getBackend(Automerge.init());
  for (let i = 0; i < keys; i++) {
    backend.put('_root', keyOf(i), i);
    if ((i + 1) % BUILD_BATCH_KEYS === 0) backend.commit();
  }
  backend.commit();
  return {
    check: () => expectValue(backend.get('_root', keyOf(keys - 1)), keys - 1),
    materialize: () => backend.materialize('/'),
  };
}

/** Throws unless the state read back what was written. */
function expectValue(read: unknown, expected: number): void {
  if (read !== expected) throw new Error(`the last key reads ${String(read)}, expected ${expected}`);
}

/** Measures one system at `keys` keys. */
async function measure(system: SystemName, keys: number): Promise<HeapMeasurement> {
  const memories = system === 'Automerge' ? watchWasmMemories() : [];
  const build = { Driftless: buildDriftless, Yjs: buildYjs, Automerge: buildAutomerge }[system];
  // Load the library and warm the build path on a few keys before the first measurement.
  (await build(BUILD_BATCH_KEYS)).check();
  const wasmSize = () => memories.reduce((sum, memory) => sum + memory.buffer.byteLength, 0);
  const before = settle();
  const wasmBefore = wasmSize();
  const started = performance.now();
  const built = await build(keys);
  const buildMs = performance.now() - started;
  const after = settle();
  const wasmAfter = wasmSize();
  built.check();
  let viewHeapBytes: number | undefined;
  if (built.materialize !== undefined) {
    const view = built.materialize();
    viewHeapBytes = settle().heapUsed - after.heapUsed;
    if (view === undefined) throw new Error('no view');
  }
  return {
    system,
    keys,
    heapBytes: after.heapUsed - before.heapUsed,
    externalBytes: after.external - before.external,
    wasmBytes: wasmAfter - wasmBefore,
    ...(viewHeapBytes === undefined ? {} : { viewHeapBytes }),
    buildMs,
    resources: measureResources(),
  };
}

const SYSTEMS: readonly SystemName[] = ['Driftless', 'Yjs', 'Automerge'];

const { values } = parseArgs({
  options: { system: { type: 'string' }, keys: { type: 'string' } },
  strict: true,
  allowPositionals: false,
});
const system = SYSTEMS.find((name) => name === values.system);
const keys = Number(values.keys);
if (system === undefined || !Number.isSafeInteger(keys) || keys < 1) {
  console.error('usage: crdt-heap-child.ts --system Driftless|Yjs|Automerge --keys N');
  process.exitCode = 2;
} else {
  console.log(JSON.stringify(await measure(system, keys)));
}
