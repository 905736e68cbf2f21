/**
 * The fault-injection clock: `NodeOptions.clock`, `--clock-offset-ms` and `--clock-offset-file`.
 * A node's HLC timestamps are visible in the siblings of a multi-value register, so each test
 * writes one and reads back the wall-clock part of its timestamp.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hlcWallMs } from '@driftless/core';
import { afterAll, describe, expect, it } from 'vitest';
import { type CliHost, runCli } from '../src/cli/program.js';
import { MAX_CLOCK_OFFSET_MS, resolveStartSettings, type StartFlags } from '../src/cli/start-options.js';
import { UsageError } from '../src/cli/usage-error.js';
import { call, SECRET, startNode } from './node-harness.js';

const HOUR_MS = 3_600_000;
const root = mkdtempSync(join(tmpdir(), 'driftless-clock-'));
const secretFile = join(root, 'secret');
writeFileSync(secretFile, `${SECRET}\n`);
afterAll(() => rmSync(root, { recursive: true, force: true }));

const base: StartFlags = { id: 'a', memory: true, secretFile };

/** Writes a sibling to an mv register on `url` and returns the wall-clock ms of its HLC. */
async function stampedWrite(url: string, value: number): Promise<number> {
  const write = await call({ url }, 'PUT', '/v1/c/carts/k', value);
  expect(write.status).toBe(200);
  const read = await call({ url }, 'GET', `/v1/c/carts/k?after=${write.body.token}`);
  const mine = (read.body.siblings ?? [{ ...read.body, hlc: read.body.hlc }]) as {
    value: unknown;
    hlc: number;
  }[];
  const sibling = mine.find((s) => s.value === value);
  expect(sibling, JSON.stringify(read.body)).toBeDefined();
  return hlcWallMs(sibling?.hlc as number);
}

/** Writes an offset file atomically (the node must never read a half-written one). */
function writeOffset(path: string, offsetMs: number): void {
  writeFileSync(`${path}.tmp`, `${offsetMs}\n`);
  renameSync(`${path}.tmp`, path);
}

describe('clock offset settings', () => {
  it('defaults to no offset and takes negative and positive whole milliseconds', () => {
    expect(resolveStartSettings(base).clockOffsetMs).toBeUndefined();
    expect(resolveStartSettings({ ...base, clockOffsetMs: '-30000' }).clockOffsetMs).toBe(-30_000);
    expect(resolveStartSettings(base, { clockOffsetMs: 1500 }).clockOffsetMs).toBe(1500);
    expect(resolveStartSettings({ ...base, clockOffsetFile: 'off' }, {}, '/', '/x').clockOffsetFile).toBe(
      '/x/off',
    );
  });

  it.each([['soon'], ['1.5'], ['1e3'], [''], [String(MAX_CLOCK_OFFSET_MS + 1)]])(
    'refuses --clock-offset-ms %j with a usage error naming the flag',
    (value) => {
      expect(() => resolveStartSettings({ ...base, clockOffsetMs: value })).toThrow(UsageError);
      expect(() => resolveStartSettings({ ...base, clockOffsetMs: value })).toThrow(
        /invalid --clock-offset-ms/,
      );
    },
  );

  it('refuses a config clockOffsetMs that is not a whole number', () => {
    expect(() => resolveStartSettings(base, { clockOffsetMs: '5' })).toThrow(/config key "clockOffsetMs"/);
  });
});

describe('an injected clock', () => {
  it('stamps writes with NodeOptions.clock', async () => {
    const node = await startNode('skewed', {
      clock: () => Date.now() + HOUR_MS,
      collectionModes: { carts: 'mv' },
    });
    expect(await stampedWrite(node.url, 1)).toBeGreaterThan(Date.now() + HOUR_MS / 2);
  });

  it('refuses a clock that is not a function', async () => {
    await expect(startNode('bad', { clock: 5 as unknown as () => number })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});

describe('driftless start with a clock offset', () => {
  function host() {
    const out: string[] = [];
    const err: string[] = [];
    let stop: (signal: string) => void = () => {};
    const stopped = new Promise<string>((resolve) => {
      stop = resolve;
    });
    const cliHost: CliHost = {
      out: (text) => out.push(text),
      err: (text) => err.push(text),
      readStdin: async () => '',
      stopSignal: () => stopped,
      isTTY: false,
      selfCommand: [],
    };
    return { cliHost, out, err, stop };
  }

  it.each([
    [['--clock-offset-ms', 'soon'], /invalid --clock-offset-ms "soon"/],
    [['--clock-offset-file', join(root, 'none')], /cannot read the clock offset file/],
    [['--clock-offset-file', secretFile], /invalid clock offset in/],
  ])('%j exits 2 with one line', async (args, message) => {
    const { cliHost, err } = host();
    const status = await runCli(
      ['start', '--id', 'a', '--memory', '--secret-file', secretFile, ...args],
      cliHost,
    );
    expect(status).toBe(2);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(message);
  });

  it('runs behind by --clock-offset-ms, jumps when the offset file changes, and stays monotonic', async () => {
    const offsetFile = join(root, 'offset');
    writeOffset(offsetFile, 0);
    const { cliHost, out, stop } = host();
    const args = [
      '--clock-offset-ms=-3600000',
      '--clock-offset-file',
      offsetFile,
      '--collection',
      'carts=mv',
    ];
    const running = runCli(
      ['start', '--id', 'c', '--memory', '--secret-file', secretFile, '--log-level', 'silent', ...args],
      cliHost,
    );
    while (!out.some((line) => line.includes(' api ')))
      await new Promise((resolve) => setTimeout(resolve, 20));
    const url = /api\s+(\S+)/.exec(out.join('\n'))?.[1] as string;
    try {
      const behind = await stampedWrite(url, 1);
      expect(behind).toBeLessThan(Date.now() - HOUR_MS / 2);

      // Jump two hours ahead: writes follow once the node has re-read the file.
      writeOffset(offsetFile, 2 * HOUR_MS);
      let ahead = behind;
      for (let i = 2; ahead < Date.now() + HOUR_MS / 2; i++) {
        ahead = await stampedWrite(url, i);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }

      // Set back again: the HLC never goes backwards, whatever the wall clock says.
      writeOffset(offsetFile, -2 * HOUR_MS);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await stampedWrite(url, 1000)).toBeGreaterThanOrEqual(ahead);
    } finally {
      stop('SIGTERM');
      expect(await running).toBe(0);
    }
  });
});
