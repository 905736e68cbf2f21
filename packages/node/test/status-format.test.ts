import { describe, expect, it } from 'vitest';
import { formatStatus } from '../src/cli/status-format.js';

describe('driftless status text', () => {
  it('names the peers that hold the log, and a peer that is disconnected with why', () => {
    const text = formatStatus({
      id: 'a',
      role: 'multi',
      vector: { a: 12 },
      digest: 'd',
      log: {
        retainedOps: 7,
        slots: [
          { node: 'b', opsBehind: 0 },
          { node: 'c', opsBehind: 7 },
        ],
        unreached: ['ws://10.0.0.9:7400/v1/peers'],
      },
      tombstones: { members: ['a', 'c', 'z'], stable: null, waitingFor: ['z'] },
      peers: [
        {
          nodeId: 'c',
          direction: 'inbound',
          state: 'disconnected',
          opsNotDurable: 7,
          bytesNotDurable: 2_560,
          lagMs: 4_000,
          lastClose: { code: 4001, reason: 'shutting down' },
        },
      ],
    });
    expect(text).toContain(
      'log        7 ops retained   held for: c 7   ws://10.0.0.9:7400/v1/peers (never reached) all',
    );
    expect(text).toContain('deletes    kept until every member is heard from: waiting for z');
    expect(
      formatStatus({ id: 'a', role: 'multi', vector: {}, digest: 'd', tombstones: { members: [] } }),
    ).toContain('deletes    kept forever (no --member list)');
    expect(
      formatStatus({
        id: 'a',
        role: 'multi',
        vector: {},
        digest: 'd',
        tombstones: { members: ['a', 'b'], stable: { b: 2, a: 3 }, waitingFor: [] },
      }),
    ).toContain('deletes    forgotten below a:3 b:2');
    expect(text).toMatch(
      /c\s+in\s+disconnected\s+-\s+0 \/ 0 B\s+7 \/ 2\.5 KiB\s+0 B\s+4\.0 s\s+-\s+4001 shutting down/,
    );
  });
});
