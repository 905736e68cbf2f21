import { decode, type Value } from '@driftless/core';
import type { ReadResult } from '@driftless/crdt';
import { COLLECTIONS, NetworkSim } from './network-sim.js';
import { modelRead } from './reference-model.js';

/** JSON with object keys sorted: field order is not part of a value. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

/** Sorts a set's elements so implementation and model compare whatever their element order. */
function normalise(read: ReadResult | undefined): unknown {
  if (!read) return undefined;
  if (read.type === 'set')
    return { ...read, value: (read.value as Value[]).map((v) => JSON.stringify(v)).sort() };
  return read;
}

/** Runs one seeded schedule and checks convergence and the model; returns a failure message or undefined. */
export function runSchedule(seed: number): string | undefined {
  const sim = new NetworkSim(seed, 5);
  const steps = 20 + Math.floor(sim.random() * 60);
  for (let step = 0; step < steps; step++) {
    const roll = sim.random();
    if (roll < 0.55) sim.write();
    else if (roll < 0.9) sim.deliver(1 + Math.floor(sim.random() * 6));
    else if (roll < 0.94) sim.restart();
    else if (roll < 0.97) sim.deltaCatchUp();
    else sim.bootstrap();
  }
  sim.drain();
  const digests = new Set(sim.replicas.map((replica) => replica.state.digest()));
  if (digests.size !== 1) return `digests differ: ${firstDifference(sim)}`;
  for (const collection of COLLECTIONS) {
    const keys = new Set(sim.history.filter((m) => m.op.collection === collection).map((m) => m.op.key));
    for (const key of keys) {
      const expected = normalise(
        modelRead(sim.history.filter((m) => m.op.collection === collection && m.op.key === key)),
      );
      for (const replica of sim.replicas) {
        const actual = normalise(replica.state.get(collection, key));
        if (canonicalJson(actual) !== canonicalJson(expected)) {
          return `${replica.id} reads ${collection}/${key} as ${JSON.stringify(actual)}, the model as ${JSON.stringify(expected)}`;
        }
      }
    }
  }
  return undefined;
}

/** The first entry whose encoding differs between two replicas. */
function firstDifference(sim: NetworkSim): string {
  const [first, ...rest] = sim.replicas.map((replica) => ({
    id: replica.id,
    collections: (decode(replica.state.snapshot()) as Value[]).slice(2) as Value[][],
  }));
  for (const other of rest) {
    for (const collection of first?.collections ?? []) {
      const theirs = other.collections.find((c) => c[0] === collection[0]) ?? [];
      for (let i = 1; i < collection.length; i += 2) {
        const j = theirs.indexOf(collection[i] as Value);
        const mine = JSON.stringify(collection[i + 1]);
        const them = j < 0 ? 'absent' : JSON.stringify(theirs[j + 1]);
        if (mine !== them)
          return `${collection[0]}/${String(collection[i])}: ${first?.id} ${mine} vs ${other.id} ${them}`;
      }
    }
  }
  return 'collections differ in their keys';
}
