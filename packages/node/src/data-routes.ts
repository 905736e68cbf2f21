/**
 * The data routes: reads, listings and writes of `/v1/c/:collection[/:key[/:action]]`. Every write
 * is checked whole (names, role, body, value, type) before anything is appended, so a refused
 * write stores nothing. Every answer carries a causal token.
 */
import { type Dot, isCollectionName, isKey, isValueMap, MAX_KEY_LENGTH } from '@driftless/core';
import type { Intent, ReplicaStore } from '@driftless/crdt';
import { ApiError } from './errors.js';
import { readBody } from './http-body.js';
import { checkValue, parseJson, readJson } from './json-value.js';
import type { ApiReply, ApiRequest, Router } from './router.js';

/** How many peers a write waits for: none, k, or every peer the node knows. */
export type AckRequest = 'local' | 'all' | number;

/** What a write's acks came to. */
export interface WriteOutcome {
  readonly durable: 'local' | 'replicated';
  /** Peers known to hold the write durably. */
  readonly acked: readonly string[];
  /** True when the peers asked for did not all ack within the node's ackTimeoutMs. */
  readonly ackTimedOut: boolean;
}

/** A write, for the node's event stream. */
export interface WriteRecord {
  readonly collection: string;
  readonly key: string;
  readonly kind: Intent['kind'];
  readonly op: Dot;
  readonly ack: AckRequest;
  readonly outcome: WriteOutcome;
}

/** What the data routes need from the node. */
export interface DataHost {
  readonly replica: ReplicaStore;
  readonly maxBodyBytes: number;
  /** Waits until the node has applied the request's `after=` token; throws READ_TIMEOUT or INVALID_TOKEN. */
  awaitAfter(query: URLSearchParams): Promise<void>;
  /** Throws REPLICA_READ_ONLY when this node does not accept writes. */
  assertWritable(): void;
  /** Waits (bounded) for the peers' acks `ack` asks for. */
  replicate(op: Dot, ack: AckRequest): Promise<WriteOutcome>;
  /**
   * Runs `read` on the state now and resolves once everything the state had applied is durable,
   * with the token of those ops (ReplicaStore.readDurable): an answer never shows an op that a
   * crash could take back. `read` must copy what it returns.
   */
  readDurable<T>(read: (state: ReplicaStore['state']) => T): Promise<{ value: T; token: string }>;
  /** readDurable for a read of one key: waits only while a change of that key is not durable. */
  readDurableKey<T>(
    collection: string,
    key: string,
    read: (state: ReplicaStore['state']) => T,
  ): Promise<{ value: T; token: string }>;
  /** The causal token of what this node holds durably now (a write's answer: its op included). */
  token(): string;
  /** Called once a write has been answered. */
  wrote(record: WriteRecord): void;
}

/** The most keys one listing returns, and how many when `limit` is not given. */
export const MAX_LIST_LIMIT = 1000;
const DEFAULT_LIST_LIMIT = 100;

type BodyKind = 'none' | 'json' | 'bytes';
type IntentOf = (body: Buffer) => Intent;

/** Registers the data routes on `router`. */
export function addDataRoutes(router: Router, host: DataHost): void {
  const write = (bodyKind: BodyKind, intentOf: IntentOf) => (request: ApiRequest) =>
    writeRoute(host, request, bodyKind, intentOf);
  router.add('GET', '/v1/c/:collection', (request) => listRoute(host, request));
  router.add('GET', '/v1/c/:collection/:key', (request) => getRoute(host, request));
  router.add(
    'PUT',
    '/v1/c/:collection/:key',
    write('json', (body) => ({ kind: 'set', value: checkValue(parseJson(body), 'the value') })),
  );
  router.add(
    'PATCH',
    '/v1/c/:collection/:key',
    write('json', (body) => {
      const patch = checkValue(parseJson(body), 'a patch');
      if (!isValueMap(patch)) {
        throw new ApiError('INVALID_VALUE', 'a patch must be a JSON object (a JSON merge patch)');
      }
      return { kind: 'patch', patch };
    }),
  );
  router.add(
    'DELETE',
    '/v1/c/:collection/:key',
    write('none', () => ({ kind: 'del' })),
  );
  router.add(
    'POST',
    '/v1/c/:collection/:key/incr',
    write('json', (body) => {
      if (body.length === 0) return { kind: 'incr', delta: 1 };
      const by = fieldOf(parseJson(body), 'by', 'an increment');
      if (by === undefined) return { kind: 'incr', delta: 1 };
      if (!Number.isSafeInteger(by) || by === 0) {
        throw new ApiError(
          'INVALID_VALUE',
          '"by" must be a non-zero whole number within ±2^53 (negative decrements)',
        );
      }
      return { kind: 'incr', delta: by as number };
    }),
  );
  for (const kind of ['add', 'remove'] as const) {
    router.add(
      'POST',
      `/v1/c/:collection/:key/${kind}`,
      write('json', (body) => {
        const element = fieldOf(parseJson(body), 'element', `a set ${kind}`);
        if (element === undefined) {
          throw new ApiError('INVALID_VALUE', `a set ${kind} takes { "element": <JSON value> }`);
        }
        return { kind, element: checkValue(element, 'the element') };
      }),
    );
  }
  router.add(
    'POST',
    '/v1/c/:collection/:key/yjs',
    write('bytes', (body) => {
      if (body.length === 0) {
        throw new ApiError(
          'INVALID_VALUE',
          'the body must be a Yjs update (v1 encoding, application/octet-stream)',
        );
      }
      return { kind: 'yjs', update: new Uint8Array(body) };
    }),
  );
}

function collectionOf(request: ApiRequest): string {
  const collection = request.params.collection;
  if (!isCollectionName(collection)) {
    throw new ApiError(
      'INVALID_COLLECTION',
      `invalid collection ${JSON.stringify(collection ?? '(bad percent-encoding)')}: use 1-128 characters ` +
        'from A-Z a-z 0-9 . _ - starting with a letter, digit or _',
    );
  }
  return collection;
}

function keyOf(request: ApiRequest): string {
  const key = request.params.key;
  if (!isKey(key)) {
    throw new ApiError(
      'INVALID_KEY',
      `invalid key: a key is 1-${MAX_KEY_LENGTH} characters of well-formed text, percent-encoded in the path`,
    );
  }
  return key;
}

/** The one field of a small JSON object body; INVALID_VALUE for other shapes or other fields. */
function fieldOf(body: unknown, field: string, what: string): unknown {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError('INVALID_VALUE', `${what} takes a JSON object with "${field}"`);
  }
  const extra = Object.keys(body).filter((name) => name !== field);
  if (extra.length > 0) {
    throw new ApiError('INVALID_VALUE', `${what} takes only "${field}", not ${JSON.stringify(extra[0])}`);
  }
  return (body as Record<string, unknown>)[field];
}

async function getRoute(host: DataHost, request: ApiRequest): Promise<ApiReply> {
  const collection = collectionOf(request);
  const key = keyOf(request);
  await host.awaitAfter(request.query);
  const { value: read, token } = await host.readDurableKey(collection, key, (state) => {
    const found = state.get(collection, key);
    return found === undefined ? undefined : readJson(found);
  });
  if (read === undefined) {
    return {
      status: 404,
      body: {
        error: { code: 'NOT_FOUND', message: `${collection}/${key} does not exist on this node` },
        token,
      },
    };
  }
  return { status: 200, body: { ...read, token } };
}

async function listRoute(host: DataHost, request: ApiRequest): Promise<ApiReply> {
  const collection = collectionOf(request);
  const { query } = request;
  const limitText = query.get('limit');
  const limit = limitText === null ? DEFAULT_LIST_LIMIT : Number(limitText);
  if (limitText !== null && (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_LIST_LIMIT)) {
    throw new ApiError('INVALID_QUERY', `limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`);
  }
  const prefix = query.get('prefix') ?? '';
  const cursor = query.get('cursor') ?? undefined;
  if (prefix.length > MAX_KEY_LENGTH || (cursor !== undefined && !isKey(cursor))) {
    throw new ApiError('INVALID_QUERY', 'prefix and cursor must be keys (cursor: as a listing returned it)');
  }
  await host.awaitAfter(query);
  const { value: page, token } = await host.readDurable((state) => {
    const { items, cursor: next } = state.list(collection, {
      prefix,
      limit,
      ...(cursor === undefined ? {} : { cursor }),
    });
    return { items: items.map(({ key, ...read }) => ({ key, ...readJson(read) })), cursor: next };
  });
  return {
    status: 200,
    body: {
      items: page.items,
      ...(page.cursor === undefined ? {} : { cursor: page.cursor }),
      token,
    },
  };
}

function parseAck(query: URLSearchParams): AckRequest {
  const ack = query.get('ack');
  if (ack === null || ack === 'local') return 'local';
  if (ack === 'all') return 'all';
  if (/^\d{1,4}$/.test(ack) && Number(ack) >= 1) return Number(ack);
  throw new ApiError(
    'INVALID_QUERY',
    `ack must be local, all or a number of peers ≥ 1, got ${JSON.stringify(ack)}`,
  );
}

async function writeRoute(
  host: DataHost,
  request: ApiRequest,
  bodyKind: BodyKind,
  intentOf: IntentOf,
): Promise<ApiReply> {
  const collection = collectionOf(request);
  const key = keyOf(request);
  host.assertWritable();
  const ack = parseAck(request.query);
  const body = bodyKind === 'none' ? Buffer.alloc(0) : await readBody(request.request, host.maxBodyBytes);
  const intent = intentOf(body);
  await host.awaitAfter(request.query);
  // The role may have changed while the body arrived.
  host.assertWritable();
  if (intent.kind === 'del' && host.replica.state.get(collection, key) === undefined) {
    throw new ApiError('NOT_FOUND', `${collection}/${key} does not exist on this node: nothing to delete`);
  }
  const { op } = await host.replica.write(collection, key, intent);
  const outcome = await host.replicate(op, ack);
  host.wrote({ collection, key, kind: intent.kind, op: { origin: op.origin, seq: op.seq }, ack, outcome });
  return {
    status: outcome.ackTimedOut ? 202 : 200,
    body: {
      token: host.token(),
      op: { origin: op.origin, seq: op.seq },
      durable: outcome.durable,
      acked: outcome.acked,
      ...(outcome.ackTimedOut ? { ackTimedOut: true } : {}),
    },
  };
}
