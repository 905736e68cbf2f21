import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CliHost, runCli } from '../src/cli/program.js';
import { DriftlessNode } from '../src/node.js';

const SECRET = 'cli-test-secret-0123456789';
const root = mkdtempSync(join(tmpdir(), 'driftless-cli-'));
const secretFile = join(root, 'secret');
writeFileSync(secretFile, `${SECRET}\n`);
const nodes: DriftlessNode[] = [];
afterAll(async () => {
  for (const node of nodes) await node.close();
  rmSync(root, { recursive: true, force: true });
});

/** A CLI host that records output; `stop()` delivers the stop signal to a running `start`. */
function testHost(stdin = '') {
  const out: string[] = [];
  const err: string[] = [];
  let stop: (signal: string) => void = () => {};
  const stopped = new Promise<string>((resolve) => {
    stop = resolve;
  });
  const host: CliHost = {
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    readStdin: async () => stdin,
    stopSignal: () => stopped,
    isTTY: false,
    selfCommand: [],
  };
  return { host, out, err, stop: (signal = 'SIGTERM') => stop(signal) };
}

async function cli(args: string[], stdin?: string) {
  const { host, out, err } = testHost(stdin);
  const status = await runCli(args, host);
  return { status, out: out.join('\n'), err };
}

async function startNode(role: 'multi' | 'replica' = 'multi'): Promise<DriftlessNode> {
  const node = await DriftlessNode.start({ id: `n${nodes.length}`, secret: SECRET, role });
  nodes.push(node);
  return node;
}

describe('usage errors', () => {
  it.each([
    [['bogus'], /unknown command 'bogus'/],
    [['start', '--bogus'], /unknown option '--bogus'/],
    [['get', 'http://127.0.0.1:1', 'users'], /missing required argument 'key'/],
    [['put', 'http://127.0.0.1:1', 'users', 'ada'], /missing required argument 'json'/],
    [['put', 'http://127.0.0.1:1', 'users', 'ada', 'hello'], /"hello" is not JSON: quote strings/],
    [['put', 'ftp://x', 'users', 'ada', '1'], /invalid node URL "ftp:\/\/x"/],
    [['put', 'http://127.0.0.1:1', 'users', 'ada', '1', '--ack', 'most'], /invalid --ack "most"/],
    [['patch', 'http://127.0.0.1:1', 'docs', 'a', '[1]'], /a patch must be a JSON object/],
    [['incr', 'http://127.0.0.1:1', 'c', 'k', '1.5'], /invalid increment 1.5/],
    [['list', 'http://127.0.0.1:1', 'users', '--limit', '0'], /invalid --limit "0"/],
    [['promote', 'http://127.0.0.1:1'], /required option '--secret-file <file>' not specified/],
    [['start', '--id', 'a', '--memory', '--secret-file', join(root, 'none')], /cannot read the secret file/],
    [
      ['start', '--id', 'a', '--memory', '--role', 'boss', '--secret-file', secretFile],
      /Allowed choices are multi/,
    ],
    [['start', '--config', join(root, 'missing.json')], /cannot read the config file/],
    [['demo', '--seconds', '-1'], /invalid --seconds/],
  ])('%j exits 2 with one line', async (args, message) => {
    const { status, err } = await cli(args);
    expect(status).toBe(2);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^driftless: /);
    expect(err[0]).toMatch(message);
  });

  it('prints help and the version with status 0', async () => {
    const help = await cli(['--help']);
    expect(help.status).toBe(0);
    expect(help.out).toMatch(/Usage: driftless/);
    for (const command of [
      'start',
      'status',
      'get',
      'put',
      'patch',
      'del',
      'incr',
      'add',
      'remove',
      'promote',
      'demo',
    ]) {
      expect(help.out).toContain(command);
    }
    expect((await cli(['start', '--help'])).out).toContain('--secret-file <file>');
    expect((await cli(['--version'])).out).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('says when a node cannot be reached, with status 1', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise((resolve) => server.close(resolve));
    const { status, err } = await cli(['status', `127.0.0.1:${port}`]);
    expect(status).toBe(1);
    expect(err).toEqual([
      `driftless: cannot reach http://127.0.0.1:${port}: connection refused (is the node running?)`,
    ]);
  });
});

describe('reading and writing a node', () => {
  it('writes every type and reads it back as JSON', async () => {
    const node = await startNode();
    const url = node.url;
    const put = await cli([
      'put',
      url,
      'users',
      'ada',
      '{"name":"Ada","langs":["en"],"age":36,"admin":true,"x":null}',
    ]);
    expect(put.status).toBe(0);
    expect(JSON.parse(put.out)).toMatchObject({ op: { origin: node.id, seq: 1 }, durable: 'local' });
    expect(JSON.parse((await cli(['get', url, 'users', 'ada'])).out)).toMatchObject({
      value: { name: 'Ada', langs: ['en'], age: 36, admin: true, x: null },
    });

    expect((await cli(['patch', url, 'docs', 'd1', '{"title":"t"}'])).status).toBe(0);
    expect((await cli(['patch', url, 'docs', 'd1', '-'], '{"body":"b"}')).status).toBe(0);
    expect(JSON.parse((await cli(['get', url, 'docs', 'd1'])).out)).toMatchObject({
      value: { title: 't', body: 'b' },
    });

    expect((await cli(['incr', url, 'counters', 'c'])).status).toBe(0);
    expect((await cli(['incr', url, 'counters', 'c', '10'])).status).toBe(0);
    expect((await cli(['incr', url, 'counters', 'c', '-3'])).status).toBe(0);
    expect(JSON.parse((await cli(['get', url, 'counters', 'c'])).out)).toMatchObject({ value: 8 });

    expect((await cli(['add', url, 'tags', 't', '"red"'])).status).toBe(0);
    expect((await cli(['add', url, 'tags', 't', '{"hex":"#00f"}'])).status).toBe(0);
    expect((await cli(['remove', url, 'tags', 't', '"red"'])).status).toBe(0);
    expect(JSON.parse((await cli(['get', url, 'tags', 't'])).out)).toMatchObject({
      value: [{ hex: '#00f' }],
    });

    const list = JSON.parse((await cli(['list', url, 'users', '--prefix', 'a'])).out);
    expect(list.items.map((item: { key: string }) => item.key)).toEqual(['ada']);

    expect((await cli(['del', url, 'users', 'ada'])).status).toBe(0);
    const gone = await cli(['get', url, 'users', 'ada']);
    expect(gone.status).toBe(1);
    expect(gone.err).toEqual([expect.stringMatching(/^driftless: NOT_FOUND: users\/ada does not exist/)]);
  });

  it('passes --ack and --after, and keys that need escaping', async () => {
    const node = await startNode();
    const write = JSON.parse((await cli(['put', node.url, 'users', 'a/b c?', '1', '--ack', 'local'])).out);
    const read = await cli(['get', node.url, 'users', 'a/b c?', '--after', write.token]);
    expect(JSON.parse(read.out)).toMatchObject({ value: 1 });
    const bad = await cli(['get', node.url, 'users', 'x', '--after', 'not-a-token!']);
    expect(bad.status).toBe(1);
    expect(bad.err[0]).toMatch(/INVALID_TOKEN/);
  });

  it('shows status as a table, or as JSON', async () => {
    const node = await startNode();
    await cli(['put', node.url, 'users', 'ada', '1']);
    const table = await cli(['status', node.url]);
    expect(table.status).toBe(0);
    expect(table.out).toMatch(new RegExp(`^node ${node.id} {3}role multi {3}cluster driftless`));
    expect(table.out).toContain(`vector     ${node.id}:1`);
    expect(table.out).toContain(`digest     ${node.status().digest}`);
    expect(table.out).toContain('ops        written 1   applied 1');
    expect(table.out).toContain('log        1 ops retained\n');
    expect(table.out).toContain('no peers');
    const json = JSON.parse((await cli(['status', node.url, '--json'])).out);
    expect(json).toMatchObject({ id: node.id, vector: { [node.id]: 1 }, digest: node.status().digest });
  });

  it('refuses writes on a replica until promote', async () => {
    const replica = await startNode('replica');
    const refused = await cli(['put', replica.url, 'users', 'ada', '1']);
    expect(refused.status).toBe(1);
    expect(refused.err[0]).toMatch(/^driftless: REPLICA_READ_ONLY: /);
    const wrongSecret = join(root, 'wrong-secret');
    writeFileSync(wrongSecret, 'not-the-cluster-secret');
    const denied = await cli(['promote', replica.url, '--secret-file', wrongSecret]);
    expect(denied.status).toBe(1);
    expect(denied.err[0]).toMatch(/UNAUTHORIZED/);
    const promoted = await cli(['promote', replica.url, '--secret-file', secretFile]);
    expect(promoted.status).toBe(0);
    expect(JSON.parse(promoted.out)).toMatchObject({ role: 'multi', previous: 'replica' });
    expect((await cli(['put', replica.url, 'users', 'ada', '1'])).status).toBe(0);
  });
});

describe('driftless start', () => {
  /** Runs `start` until it prints its banner; returns the API url and a stop function. */
  async function start(args: string[]) {
    const { host, out, err, stop } = testHost();
    const done = runCli(['start', '--secret-file', secretFile, '--log-level', 'silent', ...args], host);
    while (!out.some((line) => line.includes('api '))) {
      const early = await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 20, 'running'))]);
      if (early !== 'running') throw new Error(`start ended with ${String(early)}: ${err.join('\n')}`);
    }
    const url = /api\s+(\S+)/.exec(out.join('\n'))?.[1] as string;
    return {
      url,
      out,
      stop: async () => {
        stop();
        return done;
      },
    };
  }

  it('serves until the stop signal, then closes and exits 0; the data survives a restart', async () => {
    const data = join(root, 'node-a');
    const first = await start(['--id', 'a', '--data', data, '--cluster', 'blue']);
    expect(first.out.join('\n')).toMatch(/driftless node a \(multi, cluster blue\) is up/);
    expect(first.out.join('\n')).toMatch(/peers\s+ws:\/\/127\.0\.0\.1:\d+\/v1\/peers/);
    expect((await cli(['put', first.url, 'users', 'ada', '"x"'])).status).toBe(0);
    const metrics = await fetch(`${first.url}/metrics`);
    expect(await metrics.text()).toContain('driftless_ops_written_total 1');
    expect(await first.stop()).toBe(0);

    const second = await start(['--id', 'a', '--data', data, '--cluster', 'blue']);
    expect(JSON.parse((await cli(['get', second.url, 'users', 'ada'])).out)).toMatchObject({ value: 'x' });
    expect(await second.stop()).toBe(0);
  });

  it('reads a config file, flags overriding it', async () => {
    const config = join(root, 'node-c.json');
    writeFileSync(
      config,
      JSON.stringify({
        id: 'c',
        data: 'node-c-data',
        secretFile: 'secret',
        role: 'replica',
        cluster: 'green',
      }),
    );
    const node = await start(['--config', config, '--role', 'primary', '--no-metrics']);
    expect(node.out.join('\n')).toMatch(/driftless node c \(primary, cluster green\) is up/);
    expect(node.out.join('\n')).toContain(`data     ${join(root, 'node-c-data')}`);
    expect((await fetch(`${node.url}/metrics`)).status).toBe(404);
    expect(await node.stop()).toBe(0);
  });

  it('refuses a port in use, a data directory of another node or cluster (status 1), a bad one (2)', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    const args = ['--secret-file', secretFile, '--log-level', 'silent'];
    const inUse = await cli(['start', '--id', 'p', '--memory', '--listen', `127.0.0.1:${port}`, ...args]);
    await new Promise((resolve) => blocker.close(resolve));
    expect(inUse.status).toBe(1);
    expect(inUse.err).toEqual([
      `driftless: cannot listen on 127.0.0.1:${port}: the address is in use (another node or program has it; pick another --listen port)`,
    ]);

    const data = join(root, 'node-w');
    const owner = await start(['--id', 'w', '--data', data]);
    expect(await owner.stop()).toBe(0);
    const wrongNode = await cli(['start', '--id', 'v', '--data', data, ...args]);
    expect(wrongNode.status).toBe(1);
    expect(wrongNode.err).toEqual([
      expect.stringMatching(
        /^driftless: cannot open the data directory .*: the store belongs to node "w", not "v"/,
      ),
    ]);
    const wrongCluster = await cli(['start', '--id', 'w', '--data', data, '--cluster', 'other', ...args]);
    expect(wrongCluster.status).toBe(1);
    expect(wrongCluster.err).toEqual([
      expect.stringMatching(/belongs to cluster "driftless", not "other": start it with --cluster driftless/),
    ]);
    const file = join(root, 'plain-file');
    writeFileSync(file, '');
    const notDir = await cli(['start', '--id', 'w', '--data', file, ...args]);
    expect(notDir.status).toBe(2);
    expect(notDir.err[0]).toMatch(/is a file, not a directory/);
    const shortSecret = join(root, 'short');
    writeFileSync(shortSecret, 'short\n');
    const short = await cli(['start', '--id', 'w', '--memory', '--secret-file', shortSecret]);
    expect(short.status).toBe(2);
    expect(short.err[0]).toMatch(/too short: use at least 16 bytes/);
  });
});
