/**
 * The fault proxy on its own: it forwards both ways, keeps order under latency and jitter, holds a
 * stalled direction's bytes until it flows again, and drops or refuses connections when told.
 */
import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { seededRandom, testSeed } from '@driftless/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { LinkProxy } from './link-proxy.js';

const seed = testSeed();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server that keeps what each connection sent, and the proxy in front of it. */
async function setup() {
  const accepted: Socket[] = [];
  const received: string[] = [];
  const server: Server = createServer((socket) => {
    accepted.push(socket);
    socket.setEncoding('utf8').on('data', (text: string) => received.push(text));
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const proxy = new LinkProxy((server.address() as { port: number }).port, seededRandom(seed));
  const port = await proxy.listen();
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  cleanups.push(() => proxy.close());
  const dial = async () => {
    const client = createConnection(port, '127.0.0.1');
    client.on('error', () => {});
    cleanups.push(() => void client.destroy());
    await once(client, 'connect');
    return client;
  };
  return { proxy, dial, accepted, received: () => received.join('') };
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

function collect(socket: Socket): () => string {
  let text = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
  });
  return () => text;
}

describe(`the link proxy (seed ${seed})`, () => {
  it('forwards both ways and keeps order under latency and jitter', async () => {
    const { proxy, dial, accepted, received } = await setup();
    proxy.shape('forward', { latencyMs: 5, jitterMs: 20 });
    const client = await dial();
    const back = collect(client);
    const sent = Array.from({ length: 40 }, (_, i) => `<${i}>`);
    for (const chunk of sent) client.write(chunk);
    await until(() => received() === sent.join(''));
    accepted[0]?.write('answer');
    await until(() => back() === 'answer');
  });

  it('holds a stalled direction until it flows, while the other way keeps flowing', async () => {
    const { proxy, dial, accepted, received } = await setup();
    const client = await dial();
    const back = collect(client);
    await until(() => accepted.length === 1);
    proxy.shape('forward', { stalled: true });
    client.write('held');
    accepted[0]?.write('flows');
    await until(() => back() === 'flows');
    expect(received()).toBe('');
    client.write('-after');
    proxy.heal();
    await until(() => received() === 'held-after');
  });

  it('throttles a slow link without losing bytes', async () => {
    const { proxy, dial, received } = await setup();
    proxy.shape('forward', { bytesPerSecond: 20_000 });
    const client = await dial();
    const payload = 'x'.repeat(4_000);
    client.write(payload);
    await until(() => received().length === payload.length);
  });

  it('drops connections, and refuses new ones while told to', async () => {
    const { proxy, dial } = await setup();
    const first = await dial();
    proxy.dropConnections();
    await once(first, 'close');
    expect(proxy.connections).toBe(0);

    proxy.refuse(true);
    const refused = createConnection(proxy.port, '127.0.0.1');
    // A reset is an 'error' before the 'close' (events.once would reject on it).
    refused.on('error', () => {});
    await new Promise((resolve) => refused.on('close', resolve));

    proxy.refuse(false);
    const again = await dial();
    await until(() => proxy.connections === 1);
    again.destroy();
  });
});
