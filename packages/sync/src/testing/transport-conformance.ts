import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '../close-codes.js';
import { TransportError, type TransportErrorCode } from '../errors.js';
import { seededRandom } from '../seeded-random.js';
import type { Connection, Listener, Transport, TransportLimits } from '../transport.js';
import { ConnectionRecorder, firstDifference, frameIndex, numberedFrame } from './connection-recorder.js';

/** How the conformance suite gets transports of the implementation under test. */
export interface TransportHarness {
  /** A transport to listen with and one to dial with, both with these limits. Called once per test or more. */
  create(limits: Partial<TransportLimits>): { server: Transport; client: Transport };
  /** A fresh address for server.listen(), e.g. "127.0.0.1:0" or "mem://server-7". */
  listenAddress(): string;
  /** A url where nothing listens, so a dial fails with TRANSPORT_UNREACHABLE. */
  unreachableUrl(): Promise<string>;
  /** Urls the transport cannot use (TRANSPORT_INVALID_URL). */
  readonly invalidUrls: readonly string[];
}

interface Pair {
  readonly listener: Listener;
  readonly client: Transport;
  readonly server: Transport;
  readonly dialer: Connection;
  readonly acceptor: Connection;
  /** The dialer's events. */
  readonly d: ConnectionRecorder;
  /** The acceptor's events (open() called unless the pair was made with open: false). */
  readonly a: ConnectionRecorder;
}

const KiB = 1024;
/** Small limits so flow-control tests move little data. */
const TIGHT: Partial<TransportLimits> = {
  maxFrameBytes: 64 * KiB,
  highWaterBytes: 64 * KiB,
  lowWaterBytes: 16 * KiB,
  maxBufferedBytes: 1024 * KiB,
};
/** Bounds a send loop aimed at a peer that never reads (kernel buffers absorb a few MiB first). */
const MAX_SENDS = 16_384;

async function expectTransportError(promise: Promise<unknown>, code: TransportErrorCode): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(TransportError);
  expect((error as TransportError).code).toBe(code);
}

function expectInOrder(frames: readonly Uint8Array[], size: number): void {
  frames.forEach((frame, i) => {
    expect(frame.byteLength).toBe(size);
    expect(frameIndex(frame)).toBe(i);
  });
}

/**
 * The contract every Transport implementation must meet. Call it from a vitest file of the
 * implementation: `runTransportConformance('WsTransport', harness)`.
 */
export function runTransportConformance(name: string, harness: TransportHarness): void {
  describe(`Transport conformance: ${name}`, () => {
    const cleanups: (() => Promise<void> | void)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function connect(
      limits: Partial<TransportLimits> = {},
      options: { open?: boolean } = {},
    ): Promise<Pair> {
      const { server, client } = harness.create(limits);
      const accepted: Connection[] = [];
      const waiting: ((connection: Connection) => void)[] = [];
      const listener = await server.listen(harness.listenAddress(), (connection) => {
        const next = waiting.shift();
        if (next) next(connection);
        else accepted.push(connection);
      });
      cleanups.push(() => listener.close());
      const dialer = await client.dial(listener.url);
      const acceptor =
        accepted.shift() ?? (await new Promise<Connection>((resolve) => waiting.push(resolve)));
      cleanups.push(() => {
        for (const connection of [dialer, acceptor]) connection.close(CLOSE_CODES.NORMAL, 'test over');
      });
      const d = new ConnectionRecorder();
      const a = new ConnectionRecorder();
      dialer.open(d);
      if (options.open !== false) acceptor.open(a);
      return { listener, client, server, dialer, acceptor, d, a };
    }

    /** A round trip on a fresh connection to the same listener: lets earlier traffic settle. */
    async function roundTrip(pair: Pair): Promise<void> {
      const dialer = await pair.client.dial(pair.listener.url);
      const echo = new ConnectionRecorder();
      dialer.open(echo);
      dialer.send(numberedFrame(0, 8));
      dialer.close(CLOSE_CODES.NORMAL, 'barrier');
      await echo.closed();
    }

    it('delivers frames whole and in order in both directions', async () => {
      const { dialer, acceptor, d, a } = await connect();
      const random = seededRandom(1);
      const sizes = [4, 5, 125, 126, 127, 65_535, 65_536, 65_537, 300_000];
      while (sizes.length < 120) sizes.push(4 + Math.floor(random() * 20_000));
      sizes.forEach((size, i) => {
        dialer.send(numberedFrame(i, size));
        acceptor.send(numberedFrame(i, size));
      });
      acceptor.send(new Uint8Array(0));
      dialer.send(new Uint8Array(0));
      await a.until(() => a.frames.length === sizes.length + 1);
      await d.until(() => d.frames.length === sizes.length + 1);
      for (const frames of [a.frames, d.frames]) {
        expect(frames.map((frame) => frame.byteLength).slice(0, -1)).toEqual(sizes);
        const differences = sizes.map((size, i) => firstDifference(frames[i], numberedFrame(i, size)));
        expect(differences.filter((at) => at !== -1)).toEqual([]);
        expect(frames[sizes.length]?.byteLength).toBe(0);
      }
    });

    it('carries a frame of exactly maxFrameBytes', async () => {
      const maxFrameBytes = 1024 * KiB;
      const { dialer, acceptor, d, a } = await connect({
        maxFrameBytes,
        maxBufferedBytes: 4 * maxFrameBytes,
      });
      dialer.send(numberedFrame(1, maxFrameBytes));
      acceptor.send(numberedFrame(2, maxFrameBytes));
      await a.until(() => a.frames.length === 1);
      await d.until(() => d.frames.length === 1);
      expect(firstDifference(a.frames[0], numberedFrame(1, maxFrameBytes))).toBe(-1);
      expect(firstDifference(d.frames[0], numberedFrame(2, maxFrameBytes))).toBe(-1);
    });

    it('closes both sides with FRAME_TOO_LARGE on a frame over the receiver’s maxFrameBytes', async () => {
      const { dialer, d, a } = await connect(TIGHT);
      const max = TIGHT.maxFrameBytes as number;
      dialer.send(numberedFrame(0, max));
      dialer.send(numberedFrame(1, max + 1));
      expect((await a.closed()).code).toBe(CLOSE_CODES.FRAME_TOO_LARGE);
      expect((await d.closed()).code).toBe(CLOSE_CODES.FRAME_TOO_LARGE);
      expect(a.frames).toHaveLength(1);
      expect(firstDifference(a.frames[0], numberedFrame(0, max))).toBe(-1);
    });

    it('carries the close code and reason to the other side, both ways', async () => {
      const first = await connect();
      first.dialer.close(CLOSE_CODES.SHUTDOWN, 'maintenance window');
      expect(await first.a.closed()).toEqual({ code: CLOSE_CODES.SHUTDOWN, reason: 'maintenance window' });
      expect(await first.d.closed()).toEqual({ code: CLOSE_CODES.SHUTDOWN, reason: 'maintenance window' });
      const second = await connect();
      second.acceptor.close(CLOSE_CODES.REPLICA_READ_ONLY, 'this replica is read-only');
      expect(await second.d.closed()).toEqual({
        code: CLOSE_CODES.REPLICA_READ_ONLY,
        reason: 'this replica is read-only',
      });
    });

    it('cuts a close reason to 123 UTF-8 bytes without splitting a character', async () => {
      const { dialer, d, a } = await connect();
      dialer.close(CLOSE_CODES.NORMAL, 'é'.repeat(100));
      expect((await a.closed()).reason).toBe('é'.repeat(61));
      expect((await d.closed()).reason).toBe('é'.repeat(61));
    });

    it('reports close exactly once, when both sides close at once and close() is repeated', async () => {
      const pair = await connect();
      pair.dialer.close(CLOSE_CODES.NORMAL, 'dialer done');
      pair.acceptor.close(CLOSE_CODES.GOING_AWAY, 'acceptor done');
      pair.dialer.close(CLOSE_CODES.SHUTDOWN, 'again');
      await pair.d.closed();
      await pair.a.closed();
      pair.acceptor.close(CLOSE_CODES.SHUTDOWN, 'again');
      await pair.listener.close(); // waits for the sockets: no event can follow
      expect(pair.d.closes).toEqual([{ code: CLOSE_CODES.NORMAL, reason: 'dialer done' }]);
      expect(pair.a.closes).toEqual([{ code: CLOSE_CODES.GOING_AWAY, reason: 'acceptor done' }]);
    });

    it('throws TRANSPORT_CLOSED on send after a close, on both sides', async () => {
      const { dialer, acceptor, a } = await connect();
      dialer.close(CLOSE_CODES.NORMAL, 'done');
      expect(() => dialer.send(new Uint8Array(1))).toThrow(TransportError);
      expect(() => dialer.send(new Uint8Array(1))).toThrow(
        expect.objectContaining({ code: 'TRANSPORT_CLOSED' }),
      );
      await a.closed();
      expect(() => acceptor.send(new Uint8Array(1))).toThrow(
        expect.objectContaining({ code: 'TRANSPORT_CLOSED' }),
      );
    });

    it('refuses close codes that cannot be sent, and stays open', async () => {
      const { dialer, a } = await connect();
      for (const code of [999, 1005, 1006, 5000, 1.5]) {
        expect(() => dialer.close(code, 'no')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
      }
      dialer.send(numberedFrame(7, 16));
      await a.until(() => a.frames.length === 1);
    });

    it('delivers frames and a close sent before open() once it is called, in order', async () => {
      const pair = await connect({}, { open: false });
      for (let i = 0; i < 5; i++) pair.dialer.send(numberedFrame(i, 1000));
      pair.dialer.close(CLOSE_CODES.NORMAL, 'bye');
      await roundTrip(pair);
      expect(pair.a.frames).toEqual([]);
      pair.acceptor.open(pair.a);
      expect(await pair.a.closed()).toEqual({ code: CLOSE_CODES.NORMAL, reason: 'bye' });
      expectInOrder(pair.a.frames, 1000);
      expect(pair.a.frames).toHaveLength(5);
    });

    it('refuses a second open()', async () => {
      const { dialer } = await connect();
      expect(dialer.label).toMatch(/\S/);
      expect(() => dialer.open(new ConnectionRecorder())).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    });

    it('stops a sender at the hard limit when the peer does not read: BACKPRESSURE, bounded buffer', async () => {
      const { dialer, acceptor, d, a } = await connect(TIGHT, { open: false });
      acceptor.pause();
      acceptor.open(a);
      const frameBytes = 16 * KiB;
      let peak = 0;
      let refusals = 0;
      let sent = 0;
      for (; sent < MAX_SENDS; sent++) {
        let accepted: boolean;
        try {
          accepted = dialer.send(numberedFrame(sent, frameBytes));
        } catch (error) {
          expect((error as TransportError).code).toBe('TRANSPORT_CLOSED');
          break;
        }
        if (!accepted) refusals++;
        peak = Math.max(peak, dialer.bufferedBytes);
      }
      expect(sent).toBeLessThan(MAX_SENDS);
      expect(refusals).toBeGreaterThan(0);
      expect(peak).toBeGreaterThan(TIGHT.highWaterBytes as number);
      expect(peak).toBeLessThanOrEqual((TIGHT.maxBufferedBytes as number) + frameBytes);
      expect((await d.closed()).code).toBe(CLOSE_CODES.BACKPRESSURE);
      // The peer, once it reads again, gets an in-order prefix of what was sent, then the close.
      acceptor.resume();
      await a.closed();
      expect(a.closes).toHaveLength(1);
      expect(a.frames.length).toBeLessThan(sent);
      expectInOrder(a.frames, frameBytes);
    });

    it('fires drain once a paused peer resumes, and loses nothing', async () => {
      const { dialer, acceptor, d, a } = await connect(TIGHT, { open: false });
      acceptor.pause();
      acceptor.open(a);
      const frameBytes = 16 * KiB;
      let sent = 0;
      while (sent < MAX_SENDS && dialer.send(numberedFrame(sent, frameBytes))) sent++;
      sent++;
      expect(sent).toBeLessThan(MAX_SENDS);
      expect(dialer.bufferedBytes).toBeGreaterThan(TIGHT.highWaterBytes as number);
      let bufferedAtDrain = Number.NaN;
      d.onDrain = () => {
        bufferedAtDrain = dialer.bufferedBytes;
      };
      expect(a.frames).toHaveLength(0);
      acceptor.resume();
      await d.until(() => d.drains > 0);
      expect(bufferedAtDrain).toBeLessThanOrEqual(TIGHT.lowWaterBytes as number);
      for (let i = 0; i < 10; i++) dialer.send(numberedFrame(sent + i, frameBytes));
      await a.until(() => a.frames.length === sent + 10);
      expectInOrder(a.frames, frameBytes);
      expect(d.closes).toEqual([]);
    });

    it('fails dials with typed errors', async () => {
      const { client, server } = harness.create({});
      await expectTransportError(client.dial(await harness.unreachableUrl()), 'TRANSPORT_UNREACHABLE');
      for (const url of harness.invalidUrls) {
        await expectTransportError(client.dial(url), 'TRANSPORT_INVALID_URL');
      }
      const listener = await server.listen(harness.listenAddress(), () => undefined);
      cleanups.push(() => listener.close());
      await expectTransportError(
        client.dial(listener.url, { signal: AbortSignal.abort() }),
        'TRANSPORT_ABORTED',
      );
      await expectTransportError(
        server.listen(listener.url, () => undefined),
        'TRANSPORT_ADDRESS_IN_USE',
      );
    });

    it('closes the connections of a listener that closes, and then refuses dials', async () => {
      const pair = await connect();
      await pair.listener.close();
      expect((await pair.d.closed()).code).toBe(CLOSE_CODES.GOING_AWAY);
      expect((await pair.a.closed()).code).toBe(CLOSE_CODES.GOING_AWAY);
      await expectTransportError(pair.client.dial(pair.listener.url), 'TRANSPORT_UNREACHABLE');
    });
  });
}
