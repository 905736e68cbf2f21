/**
 * `npm start` runs `driftless demo`: three `driftless start` processes in a full mesh, written to
 * concurrently, watched until their digests are equal. This runs it as a user would (briefly) and
 * checks that it converges, stops its nodes and removes its data.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { spawnTs, watchLines } from './support/processes.js';

describe('driftless demo', () => {
  it('starts three node processes, converges, and cleans up', async () => {
    const demo = spawnTs('packages/node/src/cli/main.ts', ['demo', '--seconds', '1']);
    const watch = watchLines(demo);
    const { code, stderr } = await watch.exited;
    const output = watch.lines.join('\n');
    expect(code, `${output}\n${stderr}`).toBe(0);
    for (const node of ['lisbon', 'osaka', 'denver']) {
      expect(output).toMatch(new RegExp(`^  ${node} +http://127\\.0\\.0\\.1:\\d+ `, 'm'));
    }
    expect(output).toMatch(/^converged: all 3 digests equal \([0-9a-f]{16}\)/m);
    expect(output).toMatch(/^ {2}\d+ writes acknowledged/m);
    // Not a TTY: the table is printed as plain blocks, with no escape sequences.
    expect(output).toContain('NODE    WRITES/S');
    // Each node's worst peer lag, in ops and in log bytes not yet durable there, and in seconds.
    expect(output).toMatch(/ LAG OPS +LAG BYTES +LAG S /);
    for (const node of ['lisbon', 'osaka', 'denver'])
      expect(output).toMatch(new RegExp(`^${node} .* \\d+ +\\d+(\\.\\d)? (B|KiB|MiB) +\\d+\\.\\d `, 'm'));
    expect(output).not.toContain('\x1b[');
    const dir = /data under (\S+)/.exec(output)?.[1] as string;
    expect(existsSync(dir)).toBe(false);
  });
});
