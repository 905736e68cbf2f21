import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import type { ClusterParams, ScenarioName } from './cluster-params.js';

/**
 * What the writers of a convergence scenario write, the same for every system: each writer's
 * writes are made before anything is timed, from a seeded hash of (writer, index), so that every
 * system gets byte-identical work. Key-value scenarios draw keys from the writer's own pool or,
 * for the conflict share, from a pool every writer shares; the text scenario replays the
 * automerge-paper trace (benchmarks/data/README.md).
 */

/** One write: a register set, a counter increment, or a text edit (delete, then insert, at pos). */
export type ClusterWrite =
  | { readonly kind: 'set'; readonly key: string; readonly value: string }
  | { readonly kind: 'incr'; readonly key: string; readonly delta: number }
  | { readonly kind: 'text'; readonly pos: number; readonly del: number; readonly text: string };

/** The collection (Driftless) key-value writes go to. */
export const KV_COLLECTION = 'bench';
/** The collection and key of the text scenario's document (Driftless). */
export const TEXT_COLLECTION = 'text';
/** The key of the text scenario's document. */
export const TEXT_KEY = 'paper';

/** The trace: 259,778 single-character edits of the automerge-paper (josephg/editing-traces). */
const TRACE_FILE = new URL('../data/automerge-paper.json.gz', import.meta.url);

/** The node id (origin) of node `index`: n0, n1, … */
export function nodeIdOf(index: number): string {
  return `n${index}`;
}

/** A 32-bit hash of two integers (murmur3's finalizer over a mix of them). */
function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A value of `bytes` ASCII characters derived from `seed`. */
function seededValue(seed: number, bytes: number): string {
  let text = '';
  for (let word = 0; text.length < bytes; word++) text += mix(seed, word).toString(36).padStart(7, '0');
  return text.slice(0, bytes);
}

/** Writes `from` … `to` − 1 of writer `writer` of a key-value scenario. */
export function keyValueWrites(
  params: ClusterParams,
  writer: number,
  from: number,
  to: number,
): ClusterWrite[] {
  const writes: ClusterWrite[] = [];
  const sharedBelow = Math.round(params.conflictShare * 1_000_000);
  for (let i = from; i < to; i++) {
    const h = mix(writer + 1, i);
    const pool = h % 1_000_000 < sharedBelow ? 's' : `w${writer}`;
    const slot = mix(h, 7) % params.keys;
    const type = params.ops[i % params.ops.length] ?? 'set';
    // Counters and registers never share a key: a key has one type in every system.
    if (type === 'incr') writes.push({ kind: 'incr', key: `c.${pool}.${slot}`, delta: 1 + (h % 5) });
    else writes.push({ kind: 'set', key: `r.${pool}.${slot}`, value: seededValue(h, params.valueBytes) });
  }
  return writes;
}

/** The first `count` edits of the automerge-paper trace, one per write. */
export function traceWrites(count: number): ClusterWrite[] {
  const trace = JSON.parse(gunzipSync(readFileSync(TRACE_FILE)).toString('utf8')) as {
    txns: { patches: [number, number, string][] }[];
  };
  const writes: ClusterWrite[] = [];
  for (const { patches } of trace.txns) {
    for (const [pos, del, text] of patches) {
      if (writes.length === count) return writes;
      writes.push({ kind: 'text', pos, del, text });
    }
  }
  return writes;
}

/** How many edits the trace holds. */
export const TRACE_EDITS = 259_778;

/** Everything writer `writer` writes in `scenario`, made once before anything is timed. */
export function writesOf(
  scenario: ScenarioName,
  params: ClusterParams,
  writer: number,
  total: number,
): ClusterWrite[] {
  if (writer >= params.writers) return [];
  return scenario === 'text' ? traceWrites(total) : keyValueWrites(params, writer, 0, total);
}
