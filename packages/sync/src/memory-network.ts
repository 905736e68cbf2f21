/**
 * An in-memory network for tests and for replicas in one process: transports that listen at
 * addresses like `mem://a` and dial each other, with faults the test controls per link (latency,
 * frame drops that fail the connection, and an opt-in unreliable mode that loses, duplicates and
 * reorders frames), partitions, one-way cuts and heal(). Everything random is derived from the
 * seed and time is virtual (DeliveryScheduler), so the same seed and the same program give the
 * same delivery trace. Browser-safe: no Node built-ins, no timers but setTimeout (and setImmediate
 * where the runtime has one, see DeliveryScheduler).
 *
 * - partition(groups): links between groups fail now (both ends close with ABNORMAL) and dials
 *   across fail with TRANSPORT_UNREACHABLE, until heal().
 * - cut(from, to): a silent one-way failure. Frames from → to are held (they stay in the sender's
 *   bufferedBytes), the other direction flows, dials between the two fail. heal() releases the
 *   held frames in order, as TCP retransmits after a link comes back. What detects a cut is the
 *   protocol's heartbeat (TIMEOUT), as on a real network.
 */
import { DriftlessError } from '@driftless/core';
import { CLOSE_CODES } from './close-codes.js';
import { DeliveryScheduler } from './delivery-scheduler.js';
import { TransportError } from './errors.js';
import { type LinkContext, type LinkFaults, type MemoryConnection, MemoryLink } from './memory-link.js';
import { deriveSeed, seededRandom } from './seeded-random.js';
import {
  type Connection,
  type Listener,
  resolveTransportLimits,
  type Transport,
  type TransportLimits,
} from './transport.js';

export type { LinkFaults } from './memory-link.js';

/** One event of a network's delivery trace (recorded when the network was created with `trace: true`). */
export interface TraceEntry {
  /** Virtual time in ms since the network was created. */
  readonly atMs: number;
  /** deliver, close, lose, duplicate, reorder, hold, drop, fail, dial or refuse. */
  readonly event: string;
  /** The one-way link, e.g. "a→b#3". */
  readonly link: string;
  readonly bytes?: number;
  readonly detail?: string;
}

/** How to create a MemoryNetwork. */
export interface MemoryNetworkOptions {
  /** Seeds every random choice; print it with a failing test. */
  readonly seed: number;
  /** Faults of every link without its own (default: none, zero latency). */
  readonly faults?: LinkFaults;
  /** Record a delivery trace in `network.trace`. */
  readonly trace?: boolean;
}

/** How to create one transport on a MemoryNetwork. */
export interface MemoryTransportOptions extends Partial<TransportLimits> {
  /** This transport's own address, the one partitions and cuts refer to (default: its first listen address, or mem://client-N). */
  readonly host?: string;
}

const ADDRESS = /^mem:\/\/[A-Za-z0-9._~:-]+$/;

/** Normalises "a" or "mem://a" to "mem://a"; throws TRANSPORT_INVALID_URL for anything else. */
export function parseMemoryAddress(address: string): string {
  const full = typeof address === 'string' && !address.includes('://') ? `mem://${address}` : address;
  if (typeof full !== 'string' || !ADDRESS.test(full)) {
    throw new TransportError(
      'TRANSPORT_INVALID_URL',
      `${JSON.stringify(address)} is not an in-memory address: use mem://NAME (letters, digits, . _ ~ : -)`,
    );
  }
  return full;
}

function checkFaults(faults: LinkFaults): LinkFaults {
  const probabilities = {
    dropProbability: faults.dropProbability,
    lossProbability: faults.unreliable?.lossProbability,
    duplicateProbability: faults.unreliable?.duplicateProbability,
    reorderProbability: faults.unreliable?.reorderProbability,
  };
  for (const [name, p] of Object.entries(probabilities)) {
    if (p !== undefined && !(p >= 0 && p <= 1)) {
      throw new DriftlessError('INVALID_ARGUMENT', `${name} must be between 0 and 1, got ${p}`);
    }
  }
  const latency = faults.latencyMs;
  const [min, max] = typeof latency === 'object' ? [latency.min, latency.max] : [latency ?? 0, latency ?? 0];
  if (!(min >= 0 && max >= min && Number.isFinite(max))) {
    throw new DriftlessError(
      'INVALID_ARGUMENT',
      `latencyMs needs 0 ≤ min ≤ max, got ${JSON.stringify(latency)}`,
    );
  }
  return faults;
}

/** A simulated network of transports; see the module comment. */
export class MemoryNetwork {
  /** The seed every random choice derives from. */
  readonly seed: number;
  /** The delivery trace, when created with `trace: true`. */
  readonly trace: TraceEntry[] = [];
  private readonly scheduler = new DeliveryScheduler();
  private readonly dialRandom: () => number;
  private readonly listeners = new Map<string, MemoryListener>();
  private readonly links = new Set<MemoryLink>();
  private readonly linkFaults = new Map<string, LinkFaults>();
  private readonly blocked = new Map<string, 'partition' | 'cut'>();
  private readonly recording: boolean;
  private defaultFaults: LinkFaults;
  private nextLinkId = 1;
  private nextClientId = 1;
  private readonly context: LinkContext;

  constructor(options: MemoryNetworkOptions) {
    this.seed = options.seed | 0;
    this.defaultFaults = checkFaults(options.faults ?? {});
    this.recording = options.trace === true;
    this.dialRandom = seededRandom(deriveSeed(this.seed, 'dial'));
    this.context = {
      scheduler: this.scheduler,
      faultsFor: (from, to) => this.linkFaults.get(`${from} ${to}`) ?? this.defaultFaults,
      isCut: (from, to) => this.blocked.get(`${from} ${to}`) === 'cut',
      record: (event, link, bytes, detail) => this.record(event, link, bytes, detail),
      forget: (link) => this.links.delete(link),
    };
  }

  /** A transport on this network. */
  transport(options: MemoryTransportOptions = {}): Transport {
    const { host, ...limits } = options;
    return new MemoryTransport(
      this,
      resolveTransportLimits(limits),
      host === undefined ? undefined : parseMemoryAddress(host),
    );
  }

  /** Sets the faults of every link that has none of its own. */
  setDefaultFaults(faults: LinkFaults): void {
    this.defaultFaults = checkFaults(faults);
  }

  /** Sets the faults of the one-way link from → to (frames sent after the call). */
  setLinkFaults(from: string, to: string, faults: LinkFaults): void {
    this.linkFaults.set(`${parseMemoryAddress(from)} ${parseMemoryAddress(to)}`, checkFaults(faults));
  }

  /** Splits the given groups of addresses from each other: links across fail, dials across are refused. */
  partition(...groups: readonly (readonly string[])[]): void {
    const parsed = groups.map((group) => group.map(parseMemoryAddress));
    for (const [i, group] of parsed.entries()) {
      for (const other of parsed.slice(i + 1)) {
        for (const a of group) {
          for (const b of other) {
            this.blocked.set(`${a} ${b}`, 'partition');
            this.blocked.set(`${b} ${a}`, 'partition');
          }
        }
      }
    }
    for (const link of [...this.links]) {
      if (this.blocked.get(`${link.dialerHost} ${link.acceptorHost}`) === 'partition') {
        link.fail(CLOSE_CODES.ABNORMAL, 'connection lost: network partitioned');
      }
    }
  }

  /** Cuts the one-way link from → to silently: its frames are held until heal(). */
  cut(from: string, to: string): void {
    const key = `${parseMemoryAddress(from)} ${parseMemoryAddress(to)}`;
    if (this.blocked.get(key) !== 'partition') this.blocked.set(key, 'cut');
  }

  /** Ends every partition and cut; frames held by cuts continue in order. */
  heal(): void {
    this.blocked.clear();
    for (const link of this.links) link.heal();
  }

  /** Whether a dial from `from` to `to` would pass partitions and cuts now. */
  isReachable(from: string, to: string): boolean {
    const [a, b] = [parseMemoryAddress(from), parseMemoryAddress(to)];
    return !this.blocked.has(`${a} ${b}`) && !this.blocked.has(`${b} ${a}`);
  }

  /** Resolves once nothing is in flight: every scheduled delivery has happened (held frames aside). */
  idle(): Promise<void> {
    return this.scheduler.idle();
  }

  /** Virtual time in ms since the network was created (it advances as deliveries happen). */
  get nowMs(): number {
    return this.scheduler.now;
  }

  /** The connections currently open (or closing) on this network, for leak checks. */
  get openLinkCount(): number {
    return this.links.size;
  }

  /** @internal Registers a listener; false when the address is taken. */
  bind(listener: MemoryListener): boolean {
    if (this.listeners.has(listener.url)) return false;
    this.listeners.set(listener.url, listener);
    return true;
  }

  /** @internal Removes a listener. */
  unbind(listener: MemoryListener): void {
    if (this.listeners.get(listener.url) === listener) this.listeners.delete(listener.url);
  }

  /** @internal A name for a transport that dials before it has an address. */
  clientHost(): string {
    return `mem://client-${this.nextClientId++}`;
  }

  /** @internal Connects `host` to the listener at `address` after the link's latency. */
  connect(
    host: string,
    address: string,
    limits: TransportLimits,
    signal: AbortSignal | undefined,
  ): Promise<Connection> {
    const latency = this.context.faultsFor(host, address).latencyMs;
    const delayMs =
      typeof latency === 'object'
        ? latency.min + this.dialRandom() * (latency.max - latency.min)
        : (latency ?? 0);
    return new Promise((resolve, reject) => {
      let settled = false;
      const onAbort = () => {
        if (settled) return;
        settled = true;
        reject(
          new TransportError('TRANSPORT_ABORTED', `dial to ${address} aborted`, { cause: signal?.reason }),
        );
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.scheduler.after(delayMs, () => {
        signal?.removeEventListener('abort', onAbort);
        if (settled) return;
        settled = true;
        const listener = this.listeners.get(address);
        const refusal =
          listener === undefined
            ? `nothing listens at ${address}`
            : !this.isReachable(host, address)
              ? `${address} is unreachable from ${host} (partitioned or cut)`
              : undefined;
        if (listener === undefined || refusal !== undefined) {
          this.record('refuse', `${host}→${address}`, undefined, refusal);
          reject(new TransportError('TRANSPORT_UNREACHABLE', `cannot dial ${address}: ${refusal}`));
          return;
        }
        const id = this.nextLinkId++;
        const link = new MemoryLink(
          this.context,
          id,
          host,
          address,
          [deriveSeed(this.seed, `link ${id} forward`), deriveSeed(this.seed, `link ${id} backward`)],
          { dialer: limits, acceptor: listener.limits },
          { dialer: () => undefined, acceptor: (connection) => listener.forget(connection) },
        );
        this.links.add(link);
        this.record('dial', `${host}→${address}#${id}`);
        listener.accept(link.acceptor);
        resolve(link.dialer);
      });
    });
  }

  private record(event: string, link: string, bytes?: number, detail?: string): void {
    if (!this.recording) return;
    const entry: { atMs: number; event: string; link: string; bytes?: number; detail?: string } = {
      atMs: this.scheduler.now,
      event,
      link: link.replaceAll('mem://', ''),
    };
    if (bytes !== undefined) entry.bytes = bytes;
    if (detail !== undefined) entry.detail = detail;
    this.trace.push(entry);
  }
}

class MemoryTransport implements Transport {
  constructor(
    private readonly network: MemoryNetwork,
    readonly limits: TransportLimits,
    private host: string | undefined,
  ) {}

  async dial(url: string, options: { signal?: AbortSignal } = {}): Promise<Connection> {
    const address = parseMemoryAddress(url);
    const { signal } = options;
    if (signal?.aborted) {
      throw new TransportError('TRANSPORT_ABORTED', `dial to ${address} aborted`, { cause: signal.reason });
    }
    this.host ??= this.network.clientHost();
    return this.network.connect(this.host, address, this.limits, signal);
  }

  async listen(address: string, onConnection: (connection: Connection) => void): Promise<Listener> {
    const url = parseMemoryAddress(address);
    const listener = new MemoryListener(this.network, url, this.limits, onConnection);
    if (!this.network.bind(listener)) {
      throw new TransportError(
        'TRANSPORT_ADDRESS_IN_USE',
        `${url} is already listened on: close that listener first`,
      );
    }
    this.host ??= url;
    return listener;
  }
}

/** A listening address on a MemoryNetwork. */
class MemoryListener implements Listener {
  private readonly connections = new Set<MemoryConnection>();

  constructor(
    private readonly network: MemoryNetwork,
    readonly url: string,
    readonly limits: TransportLimits,
    private readonly onConnection: (connection: Connection) => void,
  ) {}

  accept(connection: MemoryConnection): void {
    this.connections.add(connection);
    this.onConnection(connection);
  }

  forget(connection: MemoryConnection): void {
    this.connections.delete(connection);
  }

  async close(): Promise<void> {
    this.network.unbind(this);
    for (const connection of [...this.connections]) {
      connection.close(CLOSE_CODES.GOING_AWAY, 'listener closed');
    }
  }
}
