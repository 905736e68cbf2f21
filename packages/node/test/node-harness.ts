/** Starting real nodes on 127.0.0.1 port 0 for tests, talking to them, and cleaning up. */
import { afterEach } from 'vitest';
import { WebSocket } from 'ws';
import { DriftlessNode, type NodeEvent, type NodeOptions } from '../src/index.js';

export const SECRET = 'node-test-secret-0123456789';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Runs `cleanup` after the current test. */
export function onCleanup(cleanup: () => Promise<void>): void {
  cleanups.push(cleanup);
}

/** A node with fast reconnects, closed after the test; its events are kept in `events`. */
export async function startNode(
  id: string,
  options: Partial<NodeOptions> = {},
): Promise<DriftlessNode & { events: NodeEvent[] }> {
  const events: NodeEvent[] = [];
  const node = await DriftlessNode.start({
    id,
    secret: SECRET,
    timing: { reconnectBaseMs: 10, reconnectMaxMs: 100 },
    onEvent: (event) => events.push(event),
    ...options,
  });
  onCleanup(() => node.close());
  return Object.assign(node, { events });
}

/** An HTTP answer: status, headers and the JSON body (undefined when not JSON). */
export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: test answers are read field by field.
  readonly body: any;
}

/** Raw body bytes for `call` (anything else is sent as JSON). */
export function text(body: string): Uint8Array {
  return new TextEncoder().encode(body);
}

/** Sends a request to `node`: `body` as JSON, or as it is when bytes (see `text`). */
export async function call(
  node: { url: string },
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const payload = body === undefined ? undefined : body instanceof Uint8Array ? body : JSON.stringify(body);
  const response = await fetch(`${node.url}${path}`, {
    method,
    headers,
    ...(payload === undefined ? {} : { body: payload }),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, body: json };
}

/** Polls `condition` every few ms until it holds; fails after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Resolves once every node has an established session with every other. */
export async function connected(...nodes: DriftlessNode[]): Promise<void> {
  await until(
    () =>
      nodes.every((node) =>
        nodes.every((other) => other === node || node.replicator.connectedPeers.includes(other.id)),
      ),
    'the nodes to connect',
  );
}

/** A change feed client: every message and the close, as they arrive. */
export interface FeedClient {
  // biome-ignore lint/suspicious/noExplicitAny: feed messages are read field by field.
  readonly messages: any[];
  readonly socket: WebSocket;
  closed(): { code: number; reason: string } | undefined;
  /** Resolves once the feed is closed. */
  whenClosed(): Promise<{ code: number; reason: string }>;
}

/** Opens a change feed on `node` with the given query (e.g. `collection=a&since=…`). */
export async function openFeed(node: { url: string }, query = ''): Promise<FeedClient> {
  const socket = new WebSocket(`${node.url.replace(/^http/, 'ws')}/v1/changes${query ? `?${query}` : ''}`);
  const messages: unknown[] = [];
  let closed: { code: number; reason: string } | undefined;
  const whenClosed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.on('close', (code, reason) => {
      closed = { code, reason: reason.toString() };
      resolve(closed);
    });
  });
  socket.on('message', (data) => messages.push(JSON.parse(String(data))));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  onCleanup(async () => {
    if (closed === undefined) {
      socket.close();
      await whenClosed;
    }
  });
  return { messages, socket, closed: () => closed, whenClosed: () => whenClosed };
}
