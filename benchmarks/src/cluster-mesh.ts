import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WebSocket } from 'ws';
import type { ClusterNodeSpec } from './cluster-spec.js';
import type { ClusterWrite } from './cluster-workload.js';
import type { SyncNode } from './sync-node.js';
import { BaselineReceiver } from './sync-receiver.js';
import type { Traffic } from './sync-workload.js';
import { CountedSocket, dialWs, sumTraffic } from './sync-ws.js';

/**
 * A baseline node of a cluster (the raw pipe, Yjs, Automerge): a BaselineReceiver that also dials
 * its peers and writes. Links are plain ws sockets (sync-ws.ts), dialed again 50 ms after they
 * drop (a partition healing, a peer restarting). The system's engine (cluster-raw.ts,
 * cluster-yjs.ts, cluster-automerge.ts) says what a link sends when it opens, what a frame does,
 * what a write does, and what leaves at the end of a turn of writes. With a data directory, the
 * engine's state is saved on close and loaded on start (catch-up with persistent nodes).
 */

/** How long a dropped link waits before dialing again. */
const REDIAL_MS = 50;
/** Writes per turn while writing as fast as possible (then the turn ends, and sockets are read). */
const BURST_TURN_WRITES = 1000;
/** The file a baseline's state is saved in. */
const STATE_FILE = 'baseline-state.bin';

/** A baseline's engine: its replica, and what it says on its links. */
export abstract class MeshPeer extends BaselineReceiver implements SyncNode {
  protected readonly spec: ClusterNodeSpec;
  protected readonly writes: readonly ClusterWrite[];
  /** Open links, accepted and dialed. */
  protected readonly links = new Set<CountedSocket>();
  readonly #dialed: CountedSocket[] = [];
  #closing = false;
  #linkWaiters: (() => void)[] = [];

  constructor(name: string, spec: ClusterNodeSpec, writes: readonly ClusterWrite[]) {
    super(name);
    this.spec = spec;
    this.writes = writes;
  }

  /** Applies write `i` of this node's writes to its replica. */
  protected abstract apply(write: ClusterWrite, i: number): void;
  /** A link opened (either side): say hello (a state vector, a sync message…). */
  protected abstract opened(link: CountedSocket): void;
  /** A frame arrived on `link`. */
  protected abstract received(link: CountedSocket, frame: Buffer): void;
  /** The end of a turn of writes: send what the turn made. */
  protected abstract flush(): void;
  /** The replica's state, to save; and loads a saved one. */
  protected abstract save(): Uint8Array;
  protected abstract load(bytes: Uint8Array): void;
  /** A link closed: forget its per-link state. */
  protected forget(_link: CountedSocket): void {}

  /** Loads saved state, listens on the spec's port, and dials every peer. */
  override async start(): Promise<void> {
    const dir = this.spec.dataDir;
    if (dir !== undefined) {
      let saved: Uint8Array | undefined;
      try {
        saved = readFileSync(join(dir, STATE_FILE));
      } catch {
        saved = undefined;
      }
      if (saved !== undefined) this.load(saved);
    }
    await super.start(this.spec.port);
    for (const url of this.spec.peers) this.#dial(url);
  }

  protected accept(socket: WebSocket): CountedSocket {
    const link: CountedSocket = new CountedSocket(socket, false, (frame) => this.received(link, frame));
    this.#track(link, undefined);
    return link;
  }

  /** Tracks an open link until it closes (a dialed one, `url`, is dialed again), and says hello. */
  #track(link: CountedSocket, url: string | undefined): void {
    this.links.add(link);
    link.socket.once('close', () => {
      this.links.delete(link);
      this.forget(link);
      if (url !== undefined) setTimeout(() => this.#dial(url), REDIAL_MS);
    });
    this.opened(link);
    this.#wakeLinkWaiters();
  }

  #dial(url: string): void {
    if (this.#closing) return;
    // Frames that arrive with the upgrade's response come before the dial resolves: keep them.
    let early: Buffer[] | undefined = [];
    dialWs(url, (frame, link) => (early === undefined ? this.received(link, frame) : early.push(frame))).then(
      (dialed) => {
        this.#dialed.push(dialed);
        this.#track(dialed, url);
        const frames = early ?? [];
        early = undefined;
        for (const frame of frames) this.received(dialed, frame);
      },
      () => setTimeout(() => this.#dial(url), REDIAL_MS),
    );
  }

  #wakeLinkWaiters(): void {
    const waiters = this.#linkWaiters;
    this.#linkWaiters = [];
    for (const wake of waiters) wake();
  }

  override async connected(peers: number): Promise<void> {
    while (this.links.size < peers) await new Promise<void>((resolve) => this.#linkWaiters.push(resolve));
  }

  override async burst(from: number, to: number): Promise<void> {
    for (let start = from; start < to; start += BURST_TURN_WRITES) {
      const end = Math.min(to, start + BURST_TURN_WRITES);
      for (let i = start; i < end; i++) this.write(i);
      this.flush();
      const full = [...this.links].find((link) => link.full);
      if (full !== undefined) await full.drained();
      else await new Promise((resolve) => setImmediate(resolve));
    }
  }

  override write(i: number): undefined {
    const write = this.writes[i];
    if (write === undefined) throw new Error(`${this.spec.system} n${this.spec.index} has no write ${i}`);
    this.apply(write, i);
    this.grew();
  }

  override endTurn(): void {
    this.flush();
  }

  /** Sends `frame` on every open link but `except`. */
  protected broadcast(frame: Uint8Array, except?: CountedSocket): void {
    for (const link of this.links) if (link !== except) link.send(frame);
  }

  override traffic(): Traffic {
    return sumTraffic([super.traffic(), ...this.#dialed.map(({ traffic }) => traffic)]);
  }

  override async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#dialed.map((link) => link.close()));
    await super.close();
    if (this.spec.dataDir !== undefined) writeFileSync(join(this.spec.dataDir, STATE_FILE), this.save());
  }
}
