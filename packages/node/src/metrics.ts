/**
 * Prometheus metrics for a node, at GET /metrics. Every scrape samples `node.status()` once and
 * sets the metrics from it, so what Prometheus sees is what `driftless status` shows: ops written
 * and applied, conflicts per collection and kind, per-peer state and lag (ops and log bytes not yet
 * sent or durable, bytes queued, seconds, round-trip time), connections, and the store's commit
 * (sync) latency. Write latency is timed at the HTTP server (a local-ack write's time is that of
 * its durable log append). A timer also watches peer lag: crossing the threshold logs a warning,
 * and falling back under it logs the recovery.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from './logger.js';

/** The parts of a node's status the metrics read. */
export interface MetricsStatus {
  readonly id: string;
  readonly role: string;
  readonly clusterId?: string;
  readonly vector: Readonly<Record<string, number>> | { toJSON(): Record<string, number> };
  readonly ops: { readonly written: number; readonly applied: number };
  /** Per collection, per kind. */
  readonly conflicts: Readonly<Record<string, Readonly<Record<string, number>>>>;
  readonly peers: readonly MetricsPeer[];
}

/** The parts of a peer's status the metrics read. */
export interface MetricsPeer {
  readonly nodeId: string | undefined;
  readonly url: string | undefined;
  readonly direction: string;
  readonly state: string;
  readonly opsNotSent: number;
  readonly opsNotDurable: number;
  readonly bytesNotSent: number;
  readonly bytesNotDurable: number;
  readonly bytesQueued: number;
  readonly lagMs: number;
  readonly rttMs: number | undefined;
}

/** What mountMetrics needs of a node (a DriftlessNode has it all). */
export interface MetricsNode {
  status(): MetricsStatus;
  addRoute(
    method: string,
    path: string,
    handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>,
  ): void;
  readonly server: Server;
  /** Store commit timings, for the store sync latency histogram (a DriftlessNode has it). */
  onStoreCommit?(listener: (commit: { seconds: number; writes: number; ok: boolean }) => void): () => void;
}

/** Options of mountMetrics. */
export interface MetricsOptions {
  /** Where lag warnings go; without one, lag is not watched. */
  readonly logger?: Logger;
  /** Lag, in seconds, above which a peer is reported as behind; default 10, 0 turns the watch off. */
  readonly lagWarnSeconds?: number;
  /** How often lag is checked; default 1000 ms. */
  readonly lagCheckIntervalMs?: number;
  /** Also export Node.js process metrics (CPU, memory, event loop); default true. */
  readonly processMetrics?: boolean;
  /** Default `/metrics`. */
  readonly path?: string;
  /** Serve the route; false keeps only the lag watch (`driftless start --no-metrics`). Default true. */
  readonly serve?: boolean;
}

/** The metrics mounted on a node. */
export interface NodeMetrics {
  readonly registry: Registry;
  /** Samples the node's status into the metrics (a scrape does this itself). */
  sample(): void;
  /** The metrics in the Prometheus text format, freshly sampled. */
  render(): Promise<string>;
  /** Checks every peer's lag against the threshold now (the timer does this itself). */
  checkLag(): void;
  /** Stops the lag timer (it also stops when the node's server closes). */
  stop(): void;
}

/** Write latency buckets, in seconds: 100 µs to 10 s. */
export const WRITE_SECONDS_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

const WRITE_METHODS = new Set(['PUT', 'PATCH', 'DELETE', 'POST']);

/** Adds GET /metrics to `node` (unless `serve: false`), and starts the lag watch when given a logger. */
export function mountMetrics(node: MetricsNode, options: MetricsOptions = {}): NodeMetrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const opsWritten = new Counter({
    name: 'driftless_ops_written_total',
    help: 'Ops this node wrote (its own writes).',
    registers,
  });
  const opsApplied = new Counter({
    name: 'driftless_ops_applied_total',
    help: 'Ops this node applied, its own and its peers.',
    registers,
  });
  const conflicts = new Counter({
    name: 'driftless_conflicts_total',
    help: 'Conflicts resolved, by collection and kind (overwrite, discarded, siblings, type).',
    labelNames: ['collection', 'kind'],
    registers,
  });
  const vectorSeq = new Gauge({
    name: 'driftless_vector_seq',
    help: "The highest contiguous seq applied from each origin (this node's version vector).",
    labelNames: ['origin'],
    registers,
  });
  const role = new Gauge({
    name: 'driftless_role',
    help: "1 for this node's current role.",
    labelNames: ['role'],
    registers,
  });
  const peerState = new Gauge({
    name: 'driftless_peer_state',
    help: "1 for each peer's current replication state.",
    labelNames: ['peer', 'direction', 'state'],
    registers,
  });
  const lagOps = new Gauge({
    name: 'driftless_peer_lag_ops',
    help: 'Ops this node holds that a peer lacks: not yet sent, or not yet durable there.',
    labelNames: ['peer', 'stage'],
    registers,
  });
  const lagBytes = new Gauge({
    name: 'driftless_peer_lag_bytes',
    help: "Bytes of this node's log holding ops a peer lacks: not yet sent, or not yet durable there.",
    labelNames: ['peer', 'stage'],
    registers,
  });
  const queuedBytes = new Gauge({
    name: 'driftless_peer_queued_bytes',
    help: 'Bytes queued for a peer, not yet on the network.',
    labelNames: ['peer'],
    registers,
  });
  const lagSeconds = new Gauge({
    name: 'driftless_peer_lag_seconds',
    help: 'How long the oldest op not yet durable at a peer has been durable here.',
    labelNames: ['peer'],
    registers,
  });
  const rttSeconds = new Gauge({
    name: 'driftless_peer_rtt_seconds',
    help: 'Round-trip time to a peer.',
    labelNames: ['peer'],
    registers,
  });
  const peerConnections = new Gauge({
    name: 'driftless_peer_connections',
    help: 'Peer connections open, by direction.',
    labelNames: ['direction'],
    registers,
  });
  const httpConnections = new Gauge({
    name: 'driftless_http_connections',
    help: 'Connections open on the HTTP port (clients and peers).',
    registers,
  });
  const lagWarnings = new Counter({
    name: 'driftless_peer_lag_warnings_total',
    help: 'Times a peer crossed the lag threshold.',
    labelNames: ['peer'],
    registers,
  });
  const writeSeconds = new Histogram({
    name: 'driftless_write_duration_seconds',
    help: 'Time to answer a write, by ack mode: with ack=local it is the durable log append (group commit and sync).',
    labelNames: ['ack', 'outcome'],
    buckets: WRITE_SECONDS_BUCKETS,
    registers,
  });

  const storeSeconds = new Histogram({
    name: 'driftless_store_commit_duration_seconds',
    help: 'Time of one store commit, sync to disk included (group commit: one commit carries many writes).',
    labelNames: ['outcome'],
    buckets: WRITE_SECONDS_BUCKETS,
    registers,
  });
  const storeWrites = new Counter({
    name: 'driftless_store_commit_writes_total',
    help: 'Store writes (log entries, key states, metadata) carried by commits.',
    registers,
  });
  const unsubscribeStore = node.onStoreCommit?.(({ seconds, writes, ok }) => {
    storeSeconds.observe({ outcome: ok ? 'ok' : 'error' }, seconds);
    if (ok) storeWrites.inc(writes);
  });

  const names = new PeerNames();

  // Counters only go up: each sample adds what the node counted since the last one.
  const last = new Map<string, number>();
  const advance = (counter: Counter<string>, id: string, value: number, labels?: Record<string, string>) => {
    const delta = value - (last.get(id) ?? 0);
    if (delta > 0) {
      if (labels) counter.inc(labels, delta);
      else counter.inc(delta);
    }
    last.set(id, Math.max(value, last.get(id) ?? 0));
  };

  const sample = () => {
    const status = node.status();
    advance(opsWritten, 'written', status.ops.written);
    advance(opsApplied, 'applied', status.ops.applied);
    for (const [collection, kinds] of Object.entries(status.conflicts)) {
      for (const [kind, count] of Object.entries(kinds)) {
        advance(conflicts, `conflicts\0${collection}\0${kind}`, count, { collection, kind });
      }
    }
    const vector = vectorEntries(status.vector);
    vectorSeq.reset();
    for (const [origin, seq] of vector) vectorSeq.set({ origin }, seq);
    role.reset();
    role.set({ role: status.role }, 1);
    for (const gauge of [peerState, lagOps, lagBytes, queuedBytes, lagSeconds, rttSeconds, peerConnections])
      gauge.reset();
    const open = { inbound: 0, outbound: 0 };
    for (const peer of status.peers) {
      const name = names.of(peer);
      peerState.set({ peer: name, direction: peer.direction, state: peer.state }, 1);
      lagOps.set({ peer: name, stage: 'not_sent' }, peer.opsNotSent);
      lagOps.set({ peer: name, stage: 'not_durable' }, peer.opsNotDurable);
      lagBytes.set({ peer: name, stage: 'not_sent' }, peer.bytesNotSent);
      lagBytes.set({ peer: name, stage: 'not_durable' }, peer.bytesNotDurable);
      queuedBytes.set({ peer: name }, peer.bytesQueued);
      lagSeconds.set({ peer: name }, peer.lagMs / 1000);
      if (peer.rttMs !== undefined && peer.rttMs !== null) rttSeconds.set({ peer: name }, peer.rttMs / 1000);
      if (peer.state !== 'disconnected' && (peer.direction === 'inbound' || peer.direction === 'outbound')) {
        open[peer.direction]++;
      }
    }
    peerConnections.set({ direction: 'inbound' }, open.inbound);
    peerConnections.set({ direction: 'outbound' }, open.outbound);
  };

  const render = async () => {
    sample();
    httpConnections.set(await connectionCount(node.server));
    return registry.metrics();
  };

  const serve = async (_req: IncomingMessage, res: ServerResponse) => {
    try {
      const text = await render();
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(text);
    } catch (error) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: { code: 'METRICS_FAILED', message: error instanceof Error ? error.message : String(error) },
        }),
      );
    }
  };
  if (options.serve ?? true) node.addRoute('GET', options.path ?? '/metrics', serve);

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    if (!WRITE_METHODS.has(req.method ?? '') || !req.url?.startsWith('/v1/c/')) return;
    const ack = new URL(req.url, 'http://x').searchParams.get('ack') ?? 'local';
    const end = writeSeconds.startTimer({ ack: /^\d+$/.test(ack) ? 'k' : ack });
    res.once('finish', () => end({ outcome: res.statusCode < 400 ? 'ok' : 'error' }));
  };
  node.server.on('request', onRequest);

  // The lag watch: a peer (by its row: the url dialed, or the node id of an inbound peer) is "behind" from the check that sees it over the threshold to the one
  // that sees it back under.
  const behind = new Set<string>();
  const thresholdMs = (options.lagWarnSeconds ?? 10) * 1000;
  const checkLag = () => {
    if (!options.logger || thresholdMs <= 0) return;
    let peers: readonly MetricsPeer[];
    try {
      peers = node.status().peers;
    } catch {
      return; // the node is closing
    }
    const present = new Set<string>();
    for (const peer of peers) {
      const name = names.of(peer);
      const key = peerKey(peer);
      present.add(key);
      if (peer.lagMs > thresholdMs && !behind.has(key)) {
        behind.add(key);
        lagWarnings.inc({ peer: name });
        options.logger.warn(
          {
            event: 'lag-high',
            peer: name,
            state: peer.state,
            lagSeconds: peer.lagMs / 1000,
            opsNotDurable: peer.opsNotDurable,
            bytesNotDurable: peer.bytesNotDurable,
            thresholdSeconds: thresholdMs / 1000,
          },
          `peer ${name} is ${(peer.lagMs / 1000).toFixed(1)} s behind (threshold ${thresholdMs / 1000} s)`,
        );
      } else if (peer.lagMs <= thresholdMs && behind.has(key)) {
        behind.delete(key);
        options.logger.info(
          { event: 'lag-recovered', peer: name, lagSeconds: peer.lagMs / 1000 },
          `peer ${name} caught up (lag ${(peer.lagMs / 1000).toFixed(1)} s)`,
        );
      }
    }
    // An inbound peer that disconnected is no longer reported: forget it (it warns anew if it
    // comes back behind).
    for (const key of behind) if (!present.has(key)) behind.delete(key);
  };
  const timer =
    options.logger && thresholdMs > 0 ? setInterval(checkLag, options.lagCheckIntervalMs ?? 1000) : undefined;
  timer?.unref();
  const stop = () => {
    if (timer) clearInterval(timer);
    node.server.off('request', onRequest);
    unsubscribeStore?.();
  };
  node.server.once('close', stop);

  return { registry, sample, render, checkLag, stop };
}

/** A vector as [origin, seq] pairs, whether a plain object or a VersionVector. */
function vectorEntries(vector: MetricsStatus['vector']): [string, number][] {
  const json = vector as { toJSON?: unknown };
  const plain = typeof json.toJSON === 'function' ? (json.toJSON as () => Record<string, number>)() : vector;
  return Object.entries(plain).filter((entry): entry is [string, number] => typeof entry[1] === 'number');
}

/**
 * Peer labels: the node id, also for a dialed peer while it is disconnected (the id its url
 * introduced itself with last), so a peer's series and log lines keep one name; the url for a
 * peer never reached.
 */
class PeerNames {
  readonly #idOfUrl = new Map<string, string>();

  of(peer: MetricsPeer): string {
    if (peer.url !== undefined && peer.nodeId !== undefined) this.#idOfUrl.set(peer.url, peer.nodeId);
    return (
      peer.nodeId ??
      (peer.url !== undefined ? this.#idOfUrl.get(peer.url) : undefined) ??
      peer.url ??
      'unknown'
    );
  }
}

/** What identifies a status row across its states: the url a configured peer is dialed at, else the node id. */
function peerKey(peer: MetricsPeer): string {
  return peer.url ?? peer.nodeId ?? 'unknown';
}

function connectionCount(server: Server): Promise<number> {
  return new Promise((resolve) => server.getConnections((error, count) => resolve(error ? 0 : count)));
}
