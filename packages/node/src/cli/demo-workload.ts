/**
 * The demo's writers: each node gets the same mix of writes through the HTTP API, on keys the
 * other nodes write too, so the cluster has real conflicts to resolve — registers overwritten
 * concurrently (last writer wins), a multi-value collection that keeps siblings, documents whose
 * fields are edited concurrently, counters, add-wins sets, and deletes — with values of every
 * JSON type.
 */
import { callApi } from './api-client.js';
import { keyPath } from './data-commands.js';
import { CommandError } from './usage-error.js';

/** The collection the demo runs in multi-value mode (concurrent puts are kept as siblings). */
export const DEMO_MV_COLLECTION = 'carts';

/** Keys per collection: few enough that nodes often write the same key at the same time. */
const SHARED_KEYS = 40;

/** A small seeded generator (mulberry32), so a demo run is repeatable with its seed. */
export function demoRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One HTTP write. */
export interface DemoWrite {
  readonly method: 'PUT' | 'PATCH' | 'DELETE' | 'POST';
  readonly path: string;
  readonly body?: unknown;
}

/** The i-th write of node `nodeId`. */
export function demoWrite(nodeId: string, i: number, random: () => number): DemoWrite {
  const key = `k${Math.floor(random() * SHARED_KEYS)}`;
  const roll = random();
  const path = (collection: string, suffix?: string) => keyPath(collection, key, {}, suffix);
  if (roll < 0.25) return { method: 'PUT', path: path('profiles'), body: profile(nodeId, i, random) };
  if (roll < 0.35) {
    return {
      method: 'PUT',
      path: path(DEMO_MV_COLLECTION),
      body: { items: [i % 7, `sku-${nodeId}`], by: nodeId },
    };
  }
  if (roll < 0.55) {
    const field = ['title', 'status', 'owner', 'priority'][Math.floor(random() * 4)] as string;
    return { method: 'PATCH', path: path('docs'), body: { [field]: fieldValue(field, nodeId, i) } };
  }
  if (roll < 0.75) {
    return { method: 'POST', path: path('counters', 'incr'), body: { by: random() < 0.8 ? 1 : -1 } };
  }
  if (roll < 0.88) return { method: 'POST', path: path('tags', 'add'), body: { element: tag(i, random) } };
  if (roll < 0.95) return { method: 'POST', path: path('tags', 'remove'), body: { element: tag(i, random) } };
  return { method: 'DELETE', path: path(random() < 0.5 ? 'profiles' : 'docs') };
}

/** A value of every JSON type: string, number, boolean, null, array, nested object. */
function profile(nodeId: string, i: number, random: () => number) {
  return {
    name: `user ${i % 97}`,
    score: Math.round(random() * 10_000) / 100,
    active: random() < 0.5,
    referrer: null,
    tags: ['demo', nodeId],
    address: { city: nodeId, zip: 10_000 + (i % 900) },
  };
}

function fieldValue(field: string, nodeId: string, i: number) {
  switch (field) {
    case 'title':
      return `draft ${i} from ${nodeId}`;
    case 'status':
      return ['open', 'review', 'done'][i % 3] as string;
    case 'owner':
      return { node: nodeId, since: i };
    default:
      return i % 5;
  }
}

function tag(i: number, random: () => number): string | number {
  return random() < 0.7 ? `tag-${i % 12}` : i % 12;
}

/** What a writer did. */
export interface WriterResult {
  /** Writes acknowledged. */
  readonly ok: number;
  /** Deletes of keys already gone (answered NOT_FOUND: nothing to write). */
  readonly skipped: number;
  readonly failed: number;
  readonly lastError: string | undefined;
}

/** Writes to `url` until `deadline` (performance.now()), `concurrency` at a time; counts failures instead of stopping. */
export async function runWriter(
  url: string,
  nodeId: string,
  deadline: number,
  seed: number,
  concurrency = 8,
): Promise<WriterResult> {
  const random = demoRandom(seed);
  let next = 0;
  let ok = 0;
  let skipped = 0;
  let failed = 0;
  let lastError: string | undefined;
  const lane = async () => {
    while (performance.now() < deadline) {
      const write = demoWrite(nodeId, next++, random);
      try {
        await callApi(url, write);
        ok++;
      } catch (error) {
        // Deleting a key another node deleted first is fine: nothing to delete here.
        if (error instanceof CommandError && error.apiCode === 'NOT_FOUND') {
          skipped++;
          continue;
        }
        failed++;
        lastError = error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { ok, skipped, failed, lastError };
}
