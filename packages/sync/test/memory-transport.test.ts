import { testSeed } from '@driftless/core/testing';
import { CLOSE_CODES, type Connection, MemoryNetwork, type Transport } from '@driftless/sync';
import {
  ConnectionRecorder,
  frameIndex,
  numberedFrame,
  runTransportConformance,
  type TransportHarness,
} from '@driftless/sync/testing';
import { describe, expect, it } from 'vitest';

function harness(latencyMs: number | { min: number; max: number }): TransportHarness {
  let network = new MemoryNetwork({ seed: 1 });
  let next = 0;
  return {
    create(limits) {
      network = new MemoryNetwork({ seed: 1, faults: { latencyMs } });
      return { server: network.transport(limits), client: network.transport(limits) };
    },
    listenAddress: () => `mem://server-${++next}`,
    unreachableUrl: async () => 'mem://nobody-listens',
    invalidUrls: ['ws://127.0.0.1:1/', 'mem://', 'mem://two words', ''],
  };
}

runTransportConformance('MemoryNetwork (zero latency)', harness(0));
runTransportConformance('MemoryNetwork (1–5 ms latency)', harness({ min: 1, max: 5 }));

describe('MemoryNetwork', () => {
  const seed = testSeed();
  const at = `(seed ${seed}; rerun with DRIFTLESS_SEED=${seed})`;

  /** Transports at the given hosts, each listening at its own address. */
  async function nodes(network: MemoryNetwork, ...hosts: string[]) {
    const accepted = new Map<string, Connection[]>();
    const transports = new Map<string, Transport>();
    for (const host of hosts) {
      const transport = network.transport({ host });
      const list: Connection[] = [];
      accepted.set(host, list);
      transports.set(host, transport);
      await transport.listen(host, (connection) => {
        connection.open(new ConnectionRecorder());
        list.push(connection);
      });
    }
    const dial = async (from: string, to: string) => {
      const connection = await (transports.get(from) as Transport).dial(to);
      const events = new ConnectionRecorder();
      connection.open(events);
      return { connection, events };
    };
    return { transports, accepted, dial };
  }

  it('partition() fails the links across it, refuses dials across it, and heal() ends it', async () => {
    const network = new MemoryNetwork({ seed });
    const { dial } = await nodes(network, 'mem://a', 'mem://b', 'mem://c');
    const ab = await dial('mem://a', 'mem://b');
    const ac = await dial('mem://a', 'mem://c');
    const bc = await dial('mem://b', 'mem://c');
    network.partition(['mem://a'], ['mem://b', 'mem://c']);
    expect((await ab.events.closed()).code).toBe(CLOSE_CODES.ABNORMAL);
    expect((await ac.events.closed()).code).toBe(CLOSE_CODES.ABNORMAL);
    expect(bc.connection.send(numberedFrame(0, 10))).toBe(true);
    expect(network.isReachable('mem://a', 'mem://b')).toBe(false);
    await expect(dial('mem://a', 'mem://b')).rejects.toMatchObject({ code: 'TRANSPORT_UNREACHABLE' });
    await expect(dial('mem://c', 'mem://a')).rejects.toMatchObject({ code: 'TRANSPORT_UNREACHABLE' });
    network.heal();
    const again = await dial('mem://a', 'mem://b');
    again.connection.send(numberedFrame(0, 10));
    expect(bc.events.closes).toEqual([]);
  });

  it('cut() holds one direction silently until heal(), which delivers what it held in order', async () => {
    const network = new MemoryNetwork({ seed });
    const { dial, accepted } = await nodes(network, 'mem://a', 'mem://b');
    const ab = await dial('mem://a', 'mem://b');
    await network.idle();
    const atB = accepted.get('mem://b')?.[0] as Connection;
    network.cut('mem://a', 'mem://b');
    for (let i = 0; i < 20; i++) ab.connection.send(numberedFrame(i, 1000));
    atB.send(numberedFrame(0, 500));
    await ab.events.until(() => ab.events.frames.length === 1);
    await network.idle();
    expect(ab.connection.bufferedBytes).toBe(20 * 1000);
    await expect(dial('mem://b', 'mem://a')).rejects.toMatchObject({ code: 'TRANSPORT_UNREACHABLE' });
    network.heal();
    await network.idle();
    expect(ab.connection.bufferedBytes).toBe(0);
    expect(ab.events.closes).toEqual([]);
  });

  it('a dropped frame fails the connection: the peer gets exactly the frames before it', async () => {
    const network = new MemoryNetwork({ seed, faults: { dropProbability: 0.05 }, trace: true });
    const receiver = new ConnectionRecorder();
    const { accepted } = await acceptedOn(network, 'mem://c', receiver);
    const sender = await network.transport({ host: 'mem://d' }).dial('mem://c');
    const senderEvents = new ConnectionRecorder();
    sender.open(senderEvents);
    for (let i = 0; i < 400; i++) sender.send(numberedFrame(i, 64));
    expect((await receiver.closed()).code, at).toBe(CLOSE_CODES.ABNORMAL);
    expect((await senderEvents.closed()).code, at).toBe(CLOSE_CODES.ABNORMAL);
    expect(
      network.trace.filter((entry) => entry.event === 'drop'),
      at,
    ).toHaveLength(1);
    expectPrefix(receiver.frames, 64);
    expect(receiver.frames.length, at).toBeLessThan(400);
    expect((await accepted).label).toBe(`mem c←d#1`);
    expect(sender.label).toBe(`mem d→c#1`);
  });

  it('the opt-in unreliable mode loses, duplicates and reorders frames, and only those sent', async () => {
    const unreliable = { lossProbability: 0.1, duplicateProbability: 0.1, reorderProbability: 0.1 };
    const network = new MemoryNetwork({ seed, faults: { latencyMs: { min: 0, max: 3 }, unreliable } });
    const receiver = new ConnectionRecorder();
    await acceptedOn(network, 'mem://b', receiver);
    const sender = await network.transport({ host: 'mem://a' }).dial('mem://b');
    sender.open(new ConnectionRecorder());
    for (let i = 0; i < 500; i++) sender.send(numberedFrame(i, 32));
    await network.idle();
    const indices = receiver.frames.map(frameIndex);
    expect(new Set(indices).size, at).toBeLessThan(500); // lost
    expect(indices.length, at).toBeGreaterThan(new Set(indices).size); // duplicated
    expect(
      indices.some((index, i) => i > 0 && index < (indices[i - 1] as number)),
      at,
    ).toBe(true); // reordered
    expect(indices.every((index) => index >= 0 && index < 500)).toBe(true);
    expect(receiver.closes).toEqual([]);
  });

  it('replays the same delivery trace from the same seed, and another from another seed', async () => {
    async function run(runSeed: number) {
      const network = new MemoryNetwork({
        seed: runSeed,
        trace: true,
        faults: {
          latencyMs: { min: 1, max: 4 },
          unreliable: { duplicateProbability: 0.2, reorderProbability: 0.2 },
        },
      });
      const server = network.transport();
      await server.listen('mem://echo', (connection) => {
        connection.open({
          message: (frame) => connection.send(frame),
          drain: () => undefined,
          close: () => undefined,
        });
      });
      const client = await network.transport({ host: 'mem://client' }).dial('mem://echo');
      const events = new ConnectionRecorder();
      client.open(events);
      for (let i = 0; i < 30; i++) client.send(numberedFrame(i, 10 + i));
      await network.idle();
      return { trace: network.trace, echoed: events.frames.map(frameIndex) };
    }
    const first = await run(seed);
    const second = await run(seed);
    expect(second.trace, at).toEqual(first.trace);
    expect(second.echoed).toEqual(first.echoed);
    expect(first.trace.filter((entry) => entry.event === 'deliver').length).toBeGreaterThan(60);
    expect((await run(seed + 1)).trace).not.toEqual(first.trace);
  });

  it('counts frames that latency holds in bufferedBytes, and delivers without timers at zero latency', async () => {
    const slow = new MemoryNetwork({ seed, faults: { latencyMs: 5 } });
    const receiver = new ConnectionRecorder();
    await acceptedOn(slow, 'mem://b', receiver);
    const sender = await slow.transport().dial('mem://b');
    sender.open(new ConnectionRecorder());
    sender.send(new Uint8Array(100));
    sender.send(new Uint8Array(200));
    expect(sender.bufferedBytes).toBe(300);
    await receiver.until(() => receiver.frames.length === 2);
    expect(sender.bufferedBytes).toBe(0);

    const fast = new MemoryNetwork({ seed });
    const fastReceiver = new ConnectionRecorder();
    await acceptedOn(fast, 'mem://b', fastReceiver);
    const fastSender = await fast.transport().dial('mem://b');
    fastSender.open(new ConnectionRecorder());
    fastSender.send(new Uint8Array(7));
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(fastReceiver.frames).toHaveLength(1);
  });

  it('refuses faults that make no sense', () => {
    const network = new MemoryNetwork({ seed });
    expect(() => network.setDefaultFaults({ dropProbability: 1.5 })).toThrow(/dropProbability/);
    expect(() => network.setLinkFaults('a', 'b', { latencyMs: { min: 5, max: 1 } })).toThrow(/latencyMs/);
    expect(() => network.setLinkFaults('a b', 'b', {})).toThrow(
      expect.objectContaining({ code: 'TRANSPORT_INVALID_URL' }),
    );
  });
});

/** Listens at `address` on `network`; the first connection accepted is opened with `recorder`. */
async function acceptedOn(
  network: MemoryNetwork,
  address: string,
  recorder: ConnectionRecorder,
): Promise<{ accepted: Promise<Connection> }> {
  let onAccepted: (connection: Connection) => void = () => undefined;
  const accepted = new Promise<Connection>((resolve) => {
    onAccepted = resolve;
  });
  await network.transport().listen(address, (connection) => {
    connection.open(recorder);
    onAccepted(connection);
  });
  return { accepted };
}

function expectPrefix(frames: readonly Uint8Array[], size: number): void {
  frames.forEach((frame, i) => {
    expect(frame.byteLength).toBe(size);
    expect(frameIndex(frame)).toBe(i);
  });
}
