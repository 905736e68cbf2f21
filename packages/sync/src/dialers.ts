import { type BackoffTiming, backoffDelayMs } from './backoff.js';
import type { PeerSession } from './session/peer-session.js';
import type { Connection } from './transport.js';

/** A configured peer this node dials, and keeps dialing. */
export interface Dialer {
  readonly url: string;
  session: PeerSession | undefined;
  /** The node id the url answered with last (authenticated). */
  nodeId: string | undefined;
  /** Retries since the last session that lasted (see DialerHost.stableMs): the backoff's exponent. */
  attempt: number;
  /** When its session was admitted, while it has one. */
  establishedAt: number | undefined;
  /** Its session lost to one the peer dialed: it dials again once that one ends. */
  waiting: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
  lastClose: { code: number; reason: string } | undefined;
}

/** What the dialers need of their replicator. */
export interface DialerHost {
  dial(url: string): Promise<Connection>;
  /** Runs a session on a connection this node dialed (undefined: the replicator has closed). */
  run(connection: Connection): PeerSession | undefined;
  readonly backoff: BackoffTiming;
  /**
   * A session that lasted this long (a heartbeat interval) worked: the backoff starts over after
   * it. One closed sooner (refused right after the handshake, say) counts as a failed dial, so a
   * peer that closes every session at once is not dialed every 50–100 ms for ever.
   */
  readonly stableMs: number;
  random(): number;
  now(): number;
  closed(): boolean;
  /** Whether an established session with node `nodeId` is up. */
  connected(nodeId: string): boolean;
  dialFailed(url: string, message: string, retryInMs: number): void;
}

/**
 * The configured peers of a replicator: each is dialed, and dialed again with exponential backoff
 * after a failed dial or a closed session. When two nodes dial each other, the session that loses
 * leaves its dialer waiting while the kept one is up (dialing again would only be refused).
 */
export class Dialers {
  readonly list: Dialer[] = [];
  readonly #host: DialerHost;

  constructor(host: DialerHost) {
    this.#host = host;
  }

  /** Dials `url` now, and keeps dialing it. */
  add(url: string): void {
    const dialer: Dialer = {
      url,
      session: undefined,
      nodeId: undefined,
      attempt: 0,
      establishedAt: undefined,
      waiting: false,
      timer: undefined,
      lastClose: undefined,
    };
    this.list.push(dialer);
    void this.#dial(dialer);
  }

  /** `session` authenticated as node `peer`: its dialer, if any, learns the id (even if it loses). */
  authenticated(session: PeerSession, peer: string): void {
    const dialer = this.#of(session);
    if (dialer) dialer.nodeId = peer;
  }

  /** `session` was admitted. */
  established(session: PeerSession): void {
    const dialer = this.#of(session);
    if (dialer) dialer.establishedAt = this.#host.now();
  }

  /**
   * `session` closed: its dialer (if it has one) dials again, or waits while `session`'s peer has
   * another session up. Returns when it dials again, if it does.
   */
  closed(session: PeerSession, code: number, reason: string): number | undefined {
    const dialer = this.#of(session);
    if (!dialer) return undefined;
    const host = this.#host;
    if (dialer.establishedAt !== undefined && host.now() - dialer.establishedAt >= host.stableMs)
      dialer.attempt = 0;
    dialer.session = undefined;
    dialer.establishedAt = undefined;
    dialer.lastClose = { code, reason };
    dialer.waiting = dialer.nodeId !== undefined && host.connected(dialer.nodeId);
    // A replicator that is closing dials no more: nothing to report.
    return dialer.waiting || host.closed() ? undefined : this.#retry(dialer);
  }

  /** Node `peer` has no session up any more: the dialers that waited for that dial it again. */
  disconnected(peer: string): void {
    for (const dialer of this.list) {
      if (!dialer.waiting || dialer.nodeId !== peer) continue;
      dialer.waiting = false;
      this.#retry(dialer);
    }
  }

  /** Stops every pending dial. */
  stop(): void {
    for (const dialer of this.list) clearTimeout(dialer.timer);
  }

  #of(session: PeerSession): Dialer | undefined {
    return this.list.find((dialer) => dialer.session === session);
  }

  async #dial(dialer: Dialer): Promise<void> {
    const host = this.#host;
    if (host.closed()) return;
    dialer.timer = undefined;
    try {
      dialer.session = host.run(await host.dial(dialer.url));
    } catch (error) {
      host.dialFailed(dialer.url, (error as Error).message, this.#retry(dialer));
    }
  }

  #retry(dialer: Dialer): number {
    const host = this.#host;
    const delay = backoffDelayMs(dialer.attempt++, host.backoff, () => host.random());
    if (!host.closed()) dialer.timer = setTimeout(() => void this.#dial(dialer), delay);
    return delay;
  }
}
