import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, logNodeEvent } from '../src/logger.js';
import { type MetricsNode, type MetricsPeer, type MetricsStatus, mountMetrics } from '../src/metrics.js';
import { call, startNode } from './node-harness.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** A stand-in node: a real HTTP server with routes, and a status the test sets. */
class FakeNode implements MetricsNode {
  readonly routes = new Map<string, Handler>();
  readonly server: Server;
  current: MetricsStatus;

  constructor(status: MetricsStatus) {
    this.current = status;
    this.server = createServer((req, res) => {
      const handler = this.routes.get(`${req.method} ${req.url?.split('?')[0]}`);
      if (handler) void handler(req, res);
      else {
        res.writeHead(200);
        res.end('{}');
      }
    });
  }

  status(): MetricsStatus {
    return this.current;
  }

  addRoute(method: string, path: string, handler: Handler): void {
    this.routes.set(`${method} ${path}`, handler);
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
}

function peer(overrides: Partial<MetricsPeer> = {}): MetricsPeer {
  return {
    nodeId: 'b',
    url: 'ws://127.0.0.1:1/v1/peers',
    direction: 'outbound',
    state: 'streaming',
    opsNotSent: 3,
    opsNotDurable: 5,
    bytesNotSent: 300,
    bytesNotDurable: 500,
    bytesQueued: 100,
    lagMs: 250,
    rttMs: 1.5,
    ...overrides,
  };
}

function status(overrides: Partial<MetricsStatus> = {}): MetricsStatus {
  return {
    id: 'a',
    role: 'multi',
    clusterId: 'test',
    vector: { a: 10, b: 4 },
    ops: { written: 10, applied: 14 },
    conflicts: { users: { overwrite: 2, discarded: 0, siblings: 0, type: 0 }, carts: { siblings: 1 } },
    peers: [peer()],
    ...overrides,
  };
}

function logLines() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).trim().split('\n')) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: createLogger({ destination: stream, nodeId: 'a' }) };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

describe('metrics', () => {
  it('serves the status as Prometheus metrics at GET /metrics', async () => {
    const node = new FakeNode(status());
    servers.push(node.server);
    mountMetrics(node, { processMetrics: false });
    const url = await node.listen();
    const response = await fetch(`${url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
    const text = await response.text();
    for (const line of [
      'driftless_ops_written_total 10',
      'driftless_ops_applied_total 14',
      'driftless_conflicts_total{collection="users",kind="overwrite"} 2',
      'driftless_conflicts_total{collection="carts",kind="siblings"} 1',
      'driftless_vector_seq{origin="b"} 4',
      'driftless_role{role="multi"} 1',
      'driftless_peer_state{peer="b",direction="outbound",state="streaming"} 1',
      'driftless_peer_lag_ops{peer="b",stage="not_sent"} 3',
      'driftless_peer_lag_ops{peer="b",stage="not_durable"} 5',
      'driftless_peer_lag_bytes{peer="b",stage="not_sent"} 300',
      'driftless_peer_lag_bytes{peer="b",stage="not_durable"} 500',
      'driftless_peer_queued_bytes{peer="b"} 100',
      'driftless_peer_lag_seconds{peer="b"} 0.25',
      'driftless_peer_rtt_seconds{peer="b"} 0.0015',
      'driftless_peer_connections{direction="outbound"} 1',
    ]) {
      expect(text).toContain(line);
    }
    expect(text).toMatch(/^driftless_http_connections [1-9]/m);
  });

  it('keeps counters monotonic across scrapes and drops peers that left', async () => {
    const node = new FakeNode(status());
    const metrics = mountMetrics(node, { processMetrics: false });
    await metrics.render();
    node.current = status({ ops: { written: 25, applied: 40 }, peers: [] });
    const text = await metrics.render();
    expect(text).toContain('driftless_ops_written_total 25');
    expect(text).toContain('driftless_ops_applied_total 40');
    expect(text).not.toContain('peer="b"');
    metrics.stop();
  });

  it('times writes at the HTTP server, by ack mode', async () => {
    const node = new FakeNode(status());
    servers.push(node.server);
    const metrics = mountMetrics(node, { processMetrics: false });
    const url = await node.listen();
    await fetch(`${url}/v1/c/users/ada`, { method: 'PUT', body: '1' });
    await fetch(`${url}/v1/c/users/ada?ack=2`, { method: 'PUT', body: '1' });
    await fetch(`${url}/v1/c/users/ada`); // a read is not timed
    const text = await metrics.render();
    expect(text).toContain('driftless_write_duration_seconds_count{ack="local",outcome="ok"} 1');
    expect(text).toContain('driftless_write_duration_seconds_count{ack="k",outcome="ok"} 1');
  });

  it("times a real node's store commits (the store sync latency)", async () => {
    const node = await startNode('a');
    const metrics = mountMetrics(node, { processMetrics: false });
    const before = await metrics.render();
    const count = (text: string) =>
      Number(/driftless_store_commit_duration_seconds_count\{outcome="ok"\} (\d+)/.exec(text)?.[1] ?? 0);
    const commitsBefore = count(before);
    for (const key of ['x', 'y', 'z'])
      expect((await call(node, 'PUT', `/v1/c/kv/${key}`, 1)).status).toBe(200);
    const after = await metrics.render();
    // Three sequential writes are three log appends, each its own commit.
    expect(count(after)).toBeGreaterThanOrEqual(commitsBefore + 3);
    expect(Number(/driftless_store_commit_writes_total (\d+)/.exec(after)?.[1])).toBeGreaterThanOrEqual(3);
    metrics.stop();
  });

  it('warns once when a peer crosses the lag threshold, and once when it recovers', () => {
    const { lines, logger } = logLines();
    const node = new FakeNode(status({ peers: [peer({ lagMs: 1000 })] }));
    const metrics = mountMetrics(node, { logger, lagWarnSeconds: 5, processMetrics: false });
    metrics.checkLag();
    expect(lines).toEqual([]);
    // A dialed peer that went away is reported by url only; it keeps the name it introduced itself with.
    node.current = status({ peers: [peer({ lagMs: 7500, state: 'disconnected', nodeId: undefined })] });
    metrics.checkLag();
    metrics.checkLag();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'warn',
      node: 'a',
      event: 'lag-high',
      peer: 'b',
      lagSeconds: 7.5,
      opsNotDurable: 5,
      bytesNotDurable: 500,
      thresholdSeconds: 5,
    });
    node.current = status({ peers: [peer({ lagMs: 0 })] });
    metrics.checkLag();
    metrics.checkLag();
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ level: 'info', event: 'lag-recovered', peer: 'b' });
    metrics.stop();
  });

  it('forgets an inbound peer that left while behind, and warns anew when it comes back behind', () => {
    const { lines, logger } = logLines();
    const inbound = peer({ url: undefined, direction: 'inbound', lagMs: 9000 });
    const node = new FakeNode(status({ peers: [inbound] }));
    const metrics = mountMetrics(node, { logger, lagWarnSeconds: 5, processMetrics: false });
    metrics.checkLag();
    node.current = status({ peers: [] });
    metrics.checkLag();
    node.current = status({ peers: [inbound] });
    metrics.checkLag();
    expect(lines.map((line) => [line.event, line.peer])).toEqual([
      ['lag-high', 'b'],
      ['lag-high', 'b'],
    ]);
    metrics.stop();
  });
});

describe('logs', () => {
  it('writes one JSON object per event, at a level chosen by what happened', () => {
    const { lines, logger } = logLines();
    logger.level = 'debug';
    logNodeEvent(logger, {
      type: 'listening',
      url: 'http://127.0.0.1:1',
      peerUrl: 'ws://127.0.0.1:1/v1/peers',
    });
    logNodeEvent(logger, { type: 'peer', event: { type: 'connected', peer: 'b', outbound: true } });
    logNodeEvent(logger, {
      type: 'peer',
      event: { type: 'dial-failed', url: 'ws://x/v1/peers', message: 'refused', retryInMs: 100 },
    });
    logNodeEvent(logger, {
      type: 'request',
      method: 'GET',
      route: '/v1/status',
      path: '/v1/status',
      status: 200,
      durationMs: 0.25,
    });
    logNodeEvent(logger, {
      type: 'write',
      collection: 'users',
      key: 'ada',
      kind: 'set',
      op: { origin: 'a', seq: 3 },
      ack: 2,
      outcome: { durable: 'local', acked: ['b'], ackTimedOut: true },
    });
    logNodeEvent(logger, { type: 'role', role: 'multi', previous: 'replica' });
    logNodeEvent(logger, { type: 'error', where: 'GET /v1/x', error: new Error('boom') });
    expect(lines.map((line) => [line.level, line.event])).toEqual([
      ['info', 'listening'],
      ['info', 'peer-connected'],
      ['warn', 'dial-failed'],
      ['debug', 'request'],
      ['warn', 'write'],
      ['info', 'role'],
      ['error', 'error'],
    ]);
    expect(lines[1]).toMatchObject({ node: 'a', peer: 'b', outbound: true, msg: 'peer b connected' });
    expect(lines[4]).toMatchObject({ ack: 2, acked: ['b'], op: { origin: 'a', seq: 3 } });
    expect(lines[6]).toMatchObject({ where: 'GET /v1/x', error: { message: 'boom', name: 'Error' } });
    expect(typeof lines[0]?.time).toBe('string');
  });

  it('leaves requests out at the default level', () => {
    const { lines, logger } = logLines();
    logNodeEvent(logger, {
      type: 'request',
      method: 'GET',
      route: undefined,
      path: '/x',
      status: 404,
      durationMs: 1,
    });
    expect(lines).toEqual([]);
  });
});
