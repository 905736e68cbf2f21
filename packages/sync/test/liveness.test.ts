import { VersionVector } from '@driftless/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  CLOSE_CODES,
  createNonce,
  DEFAULT_SESSION_TIMING,
  encodeMessage,
  MemoryNetwork,
  type Message,
  PROTOCOL_VERSION,
  type ReplicatorEvent,
} from '../src/index.js';
import { Liveness, type LivenessLink } from '../src/session/liveness.js';
import { authenticatedPeer, node, rawPeer, stopNodes, type TestNode, until, write } from './test-nodes.js';

afterEach(stopNodes);

// --- Liveness on its own, under fake timers -----------------------------------------------------

const INTERVAL_MS = 10;
const TIMEOUT_MS = 35;

/** A Liveness over a link that records what it sends and how it closed. */
function liveness() {
  const state = { established: true, paused: false };
  const sent: Message[] = [];
  const closes: { code: number; reason: string }[] = [];
  const link: LivenessLink = {
    timing: { ...DEFAULT_SESSION_TIMING, heartbeatIntervalMs: INTERVAL_MS, heartbeatTimeoutMs: TIMEOUT_MS },
    now: () => Date.now(),
    established: () => state.established,
    paused: () => state.paused,
    live: () => false,
    acked: () => VersionVector.EMPTY,
    sent: () => VersionVector.EMPTY,
    sentByPeer: () => VersionVector.EMPTY,
    reports: () => [],
    send: (message) => {
      sent.push(message);
      return true;
    },
    resendFrom: () => {},
    close: (code, reason) => {
      closes.push({ code, reason });
      state.established = false;
    },
  };
  const heartbeat = new Liveness(link);
  heartbeat.start();
  const pings = () => sent.filter((message) => message.type === 'ping').length;
  return { heartbeat, state, closes, pings };
}

describe('Liveness', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('closes a silent link with TIMEOUT at the first heartbeat past the timeout, and beats no more', () => {
    const { closes, pings } = liveness();
    vi.advanceTimersByTime(TIMEOUT_MS);
    expect(closes).toEqual([]);
    expect(pings()).toBe(3);
    vi.advanceTimersByTime(INTERVAL_MS);
    expect(closes).toEqual([{ code: CLOSE_CODES.TIMEOUT, reason: 'nothing received for 40 ms' }]);
    vi.advanceTimersByTime(10 * TIMEOUT_MS);
    expect(closes).toHaveLength(1);
    expect(pings()).toBe(3);
  });

  it('keeps a link that hears something within every timeout open, pinging at every heartbeat', () => {
    const { heartbeat, closes, pings } = liveness();
    const frames = setInterval(() => heartbeat.heard(), TIMEOUT_MS - 5);
    vi.advanceTimersByTime(100 * INTERVAL_MS);
    clearInterval(frames);
    expect(closes).toEqual([]);
    expect(pings()).toBe(100);
  });

  it('stops beating once stopped, or once the session is no longer established', () => {
    const stopped = liveness();
    stopped.heartbeat.stop();
    const ended = liveness();
    ended.state.established = false;
    vi.advanceTimersByTime(10 * TIMEOUT_MS);
    for (const { closes, pings } of [stopped, ended]) {
      expect(closes).toEqual([]);
      expect(pings()).toBe(0);
    }
  });

  it('does not count time this node spent not reading (paused) against the peer', () => {
    const { heartbeat, state, closes } = liveness();
    state.paused = true;
    heartbeat.waiting();
    vi.advanceTimersByTime(20 * TIMEOUT_MS);
    expect(closes).toEqual([]);
    // Reading again: the silence, and the wait for a drain, count from the last heartbeat.
    state.paused = false;
    vi.advanceTimersByTime(TIMEOUT_MS);
    expect(closes).toEqual([]);
    vi.advanceTimersByTime(INTERVAL_MS);
    expect(closes.map((close) => close.code)).toEqual([CLOSE_CODES.BACKPRESSURE]);
  });

  it('forgives a heartbeat that comes late because the event loop was busy', () => {
    const { closes, pings } = liveness();
    vi.advanceTimersByTime(INTERVAL_MS);
    // The clock jumps 10 timeouts while no timer runs, as under a long synchronous task.
    vi.setSystemTime(Date.now() + 10 * TIMEOUT_MS);
    vi.advanceTimersByTime(INTERVAL_MS);
    expect(closes).toEqual([]);
    expect(pings()).toBe(2);
    // From that late beat on, a whole timeout of silence closes as usual.
    vi.advanceTimersByTime(TIMEOUT_MS - 5);
    expect(closes).toEqual([]);
    vi.advanceTimersByTime(INTERVAL_MS);
    expect(closes.map((close) => close.code)).toEqual([CLOSE_CODES.TIMEOUT]);
  });

  it('closes with BACKPRESSURE when the peer has not read for a whole timeout, though it still sends', () => {
    const { heartbeat, closes } = liveness();
    const frames = setInterval(() => heartbeat.heard(), 5);
    heartbeat.waiting();
    vi.advanceTimersByTime(TIMEOUT_MS);
    expect(closes).toEqual([]);
    vi.advanceTimersByTime(INTERVAL_MS);
    clearInterval(frames);
    expect(closes).toEqual([{ code: CLOSE_CODES.BACKPRESSURE, reason: 'the peer has not read for 40 ms' }]);
  });

  it('counts the wait for a drain from the first wait after the last drain', () => {
    const { heartbeat, closes } = liveness();
    const frames = setInterval(() => heartbeat.heard(), 5);
    heartbeat.waiting();
    vi.advanceTimersByTime(3 * INTERVAL_MS);
    // Waiting again before the drain does not restart the count; a drain does.
    heartbeat.waiting();
    heartbeat.drained();
    heartbeat.waiting();
    vi.advanceTimersByTime(TIMEOUT_MS);
    expect(closes).toEqual([]);
    vi.advanceTimersByTime(INTERVAL_MS);
    clearInterval(frames);
    expect(closes.map((close) => close.code)).toEqual([CLOSE_CODES.BACKPRESSURE]);
  });
});

// --- Replicators on the in-memory network -------------------------------------------------------

const closes = (n: TestNode) =>
  n.events.flatMap((event) =>
    event.type === 'disconnected' ? [{ code: event.code, reason: event.reason }] : [],
  );

const count = (n: TestNode, type: ReplicatorEvent['type']) =>
  n.events.filter((event) => event.type === type).length;

const hello = (nodeId: string) =>
  encodeMessage({
    type: 'hello',
    version: PROTOCOL_VERSION,
    clusterId: 'test',
    nodeId,
    role: 'multi',
    nonce: createNonce(),
  });

/** The machine may be loaded: these tests (and `until`) give up long after the timers under test. */
const SLOW = { timeout: 30_000 };

describe('heartbeats over the in-memory network', SLOW, () => {
  const heartbeat = { heartbeatIntervalMs: 20, heartbeatTimeoutMs: 200 };

  it.each([
    { cut: 'a → b', from: 'mem://a', to: 'mem://b', deaf: 'b' },
    { cut: 'b → a', from: 'mem://b', to: 'mem://a', deaf: 'a' },
  ])(
    'a silent one-way cut ($cut) closes the session with TIMEOUT on both sides; after heal the peers replicate again',
    async ({ from, to, deaf }) => {
      const network = new MemoryNetwork({ seed: 41 });
      const a = await node(network, 'a', { options: { timing: heartbeat } });
      const b = await node(network, 'b', { options: { peers: ['mem://a'], timing: heartbeat } });
      await write(a, 'before');
      await until(() => b.store.log.versionVector.get('a') === 1, 'b connected and caught up');

      network.cut(from, to);
      await until(() => closes(a).length > 0 && closes(b).length > 0, 'both sessions closed');
      // The side that hears nothing closes with TIMEOUT, and its close (which flows) tells the other.
      const [deafSide, otherSide] = deaf === 'b' ? [b, a] : [a, b];
      expect(closes(deafSide)).toEqual([
        { code: CLOSE_CODES.TIMEOUT, reason: expect.stringMatching(/^nothing received for \d+ ms$/) },
      ]);
      expect(closes(otherSide).map((close) => close.code)).toEqual([CLOSE_CODES.TIMEOUT]);
      // While the cut lasts, b's re-dials are refused and both report the peer down, with why.
      await write(a, 'during');
      await until(() => count(b, 'dial-failed') > 0, 'a re-dial refused');
      expect(b.replicator.status()).toMatchObject([
        { url: 'mem://a', state: 'disconnected', lastClose: { code: CLOSE_CODES.TIMEOUT } },
      ]);
      expect(a.replicator.status()).toMatchObject([
        {
          nodeId: 'b',
          direction: 'inbound',
          state: 'disconnected',
          lastClose: { code: CLOSE_CODES.TIMEOUT },
        },
      ]);

      network.heal();
      await until(() => count(b, 'connected') === 2, 'b reconnected');
      await write(b, 'after');
      await until(
        () => a.store.log.versionVector.get('b') === 1 && b.store.log.versionVector.get('a') === 2,
        'both writes made on either side of the heal',
      );
      expect(b.store.state.digest()).toBe(a.store.state.digest());
      expect(b.store.state.get('c', 'during')?.value).toBe('during');
      expect(closes(a)).toHaveLength(1);
      expect(closes(b)).toHaveLength(1);
    },
  );

  it('keeps an idle session over a healthy link open across many heartbeat timeouts', async () => {
    const network = new MemoryNetwork({ seed: 42 });
    const timing = { heartbeatIntervalMs: 10, heartbeatTimeoutMs: 50 };
    const a = await node(network, 'a', { options: { timing } });
    const b = await node(network, 'b', { options: { peers: ['mem://a'], timing } });
    await until(() => a.replicator.connectedPeers.length === 1, 'b connected');
    await until(() => b.replicator.status()[0]?.rttMs !== undefined, 'a PONG at b');
    await new Promise((resolve) => setTimeout(resolve, 10 * timing.heartbeatTimeoutMs));
    expect(closes(a)).toEqual([]);
    expect(closes(b)).toEqual([]);
    expect(a.replicator.connectedPeers).toEqual(['b']);
  });
});

describe('the handshake timeout', SLOW, () => {
  const timing = { handshakeTimeoutMs: 100 };

  it('closes a connection that sends nothing with TIMEOUT', async () => {
    const network = new MemoryNetwork({ seed: 43 });
    const a = await node(network, 'a', { options: { timing } });
    const peer = await rawPeer(network, 'mem://a');
    await until(() => peer.closed() !== undefined, 'the close');
    expect(peer.closed()).toEqual({ code: CLOSE_CODES.TIMEOUT, reason: 'handshake timed out' });
    expect(peer.types()).toEqual(['hello']);
    expect(closes(a)).toEqual([{ code: CLOSE_CODES.TIMEOUT, reason: 'handshake timed out' }]);
    expect(a.replicator.status()).toEqual([]);
  });

  it('closes a connection that sends HELLO and never AUTH with TIMEOUT', async () => {
    const network = new MemoryNetwork({ seed: 44 });
    const a = await node(network, 'a', { options: { timing } });
    const peer = await rawPeer(network, 'mem://a');
    peer.connection.send(hello('raw'));
    await until(() => peer.closed() !== undefined, 'the close');
    expect(peer.closed()).toEqual({ code: CLOSE_CODES.TIMEOUT, reason: 'handshake timed out' });
    // The node answered HELLO with its AUTH and waited for the peer's.
    expect(peer.types()).toEqual(['hello', 'auth']);
    expect(a.events.filter((event) => event.type === 'disconnected')).toEqual([
      { type: 'disconnected', peer: 'raw', code: CLOSE_CODES.TIMEOUT, reason: 'handshake timed out' },
    ]);
    expect(a.replicator.connectedPeers).toEqual([]);
  });

  it('leaves a session that authenticated in time open past the handshake timeout', async () => {
    const network = new MemoryNetwork({ seed: 45 });
    const a = await node(network, 'a', { options: { timing: { handshakeTimeoutMs: 20 } } });
    const peer = await authenticatedPeer(network, 'a', 'raw');
    await until(() => a.replicator.connectedPeers.includes('raw'), 'raw admitted');
    await new Promise((resolve) => setTimeout(resolve, 10 * 20));
    expect(peer.closed()).toBeUndefined();
    expect(closes(a)).toEqual([]);
  });
});

describe('a state transfer slower than the heartbeat timeout', SLOW, () => {
  it('completes on one session: chunks and heartbeats keep it alive', async () => {
    const network = new MemoryNetwork({ seed: 46 });
    const timing = { heartbeatIntervalMs: 20, heartbeatTimeoutMs: 100, stateChunkBytes: 512 };
    // a holds 400 keys and a truncated log, so b bootstraps from a snapshot; the snapshot crawls
    // over a link with 40 ms of latency and a 2 KiB send buffer (about 2.5 KiB per round trip).
    const a = await node(network, 'a', {
      options: { timing },
      limits: { highWaterBytes: 2048, lowWaterBytes: 512 },
    });
    network.setLinkFaults('mem://a', 'mem://b', { latencyMs: 40 });
    for (let i = 0; i < 400; i++) await write(a, `key-${i}`, { kind: 'set', value: 'v'.repeat(50) });
    await a.store.log.truncate(a.store.log.versionVector);
    const snapshotBytes = a.store.state.snapshot().length;

    let startedAtMs: number | undefined;
    const b = await node(network, 'b', { options: { peers: ['mem://a'], timing } });
    await until(() => {
      startedAtMs ??= count(b, 'connected') > 0 ? network.nowMs : undefined;
      return b.store.log.versionVector.get('a') === 400;
    }, 'the snapshot at b');
    const transferMs = network.nowMs - (startedAtMs as number);

    // The network's virtual time, which real time never runs behind: the transfer outlasted the
    // heartbeat timeout several times over, so without liveness frames either side would have closed.
    expect(transferMs, `${snapshotBytes} bytes`).toBeGreaterThan(3 * timing.heartbeatTimeoutMs);
    expect(closes(a)).toEqual([]);
    expect(closes(b)).toEqual([]);
    expect(count(b, 'connected')).toBe(1);
    expect(a.replicator.status()[0]?.stats.statesSent).toBe(1);
    expect(b.store.state.digest()).toBe(a.store.state.digest());
    // Heartbeats crossed the slow link both ways during the transfer.
    expect(a.replicator.status()[0]?.rttMs).toBeDefined();
    expect(b.replicator.status()[0]?.rttMs).toBeDefined();
  });
});

describe('a peer that never answers STATE_BEGIN', SLOW, () => {
  it('is closed with TIMEOUT after a heartbeat timeout, though its heartbeats keep coming', async () => {
    const network = new MemoryNetwork({ seed: 47 });
    const timing = { heartbeatIntervalMs: 20, heartbeatTimeoutMs: 150 };
    // a's log no longer holds its ops, so a peer that holds none of them gets a snapshot.
    const a = await node(network, 'a', { options: { timing } });
    for (let i = 0; i < 5; i++) await write(a, `key-${i}`);
    await a.store.log.truncate(a.store.log.versionVector);

    const peer = await authenticatedPeer(network, 'a', 'raw');
    // The peer pings, so nothing else closes the session: it reads STATE_BEGIN and stays silent.
    const pinging = setInterval(() => {
      try {
        peer.connection.send(encodeMessage({ type: 'ping', time: 0 }));
      } catch (error) {
        // The node closed the connection: that close is what the test waits for.
        if ((error as { code?: string }).code !== 'TRANSPORT_CLOSED') throw error;
      }
    }, 20);
    try {
      await until(() => peer.closed() !== undefined, 'the close');
    } finally {
      clearInterval(pinging);
    }
    const reason = `no STATE_RESUME within ${timing.heartbeatTimeoutMs} ms of STATE_BEGIN`;
    expect(peer.closed()).toEqual({ code: CLOSE_CODES.TIMEOUT, reason });
    const types = peer.types();
    expect(types).toContain('state-begin');
    expect(types).toContain('pong');
    expect(types.filter((type) => type === 'state-chunk' || type === 'state-end')).toEqual([]);
    expect(closes(a)).toEqual([{ code: CLOSE_CODES.TIMEOUT, reason }]);
    expect(a.replicator.status()).toMatchObject([
      { nodeId: 'raw', state: 'disconnected', lastClose: { code: CLOSE_CODES.TIMEOUT, reason } },
    ]);
  });
});
