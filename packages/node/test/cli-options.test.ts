import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkDataDirCluster, prepareDataDir, recordDataDirCluster } from '../src/cli/data-dir.js';
import {
  checkConfigShape,
  parseListen,
  readConfigFile,
  resolveStartSettings,
  type StartFlags,
} from '../src/cli/start-options.js';
import { UsageError } from '../src/cli/usage-error.js';

const root = mkdtempSync(join(tmpdir(), 'driftless-cli-options-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const base: StartFlags = { id: 'a', data: '/var/lib/a', secretFile: '/etc/secret' };

function usage(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('expected a UsageError');
}

describe('start flags', () => {
  it('fills in defaults: loopback on a free port, multi-master, metrics on', () => {
    const settings = resolveStartSettings(base, {}, '/', '/');
    expect(settings).toMatchObject({
      id: 'a',
      dataDir: '/var/lib/a',
      listen: '127.0.0.1:0',
      peers: [],
      role: 'multi',
      clusterId: undefined,
      secretFile: '/etc/secret',
      collectionModes: {},
      logLevel: 'info',
      metrics: true,
      lagWarnSeconds: 10,
    });
  });

  it('takes the cluster members from repeated --member or the file, and checks them', () => {
    expect(resolveStartSettings(base, {}, '/', '/').members).toEqual([]);
    expect(
      resolveStartSettings({ ...base, member: ['a', 'b'] }, { members: ['x'] }, '/', '/').members,
    ).toEqual(['a', 'b']);
    expect(resolveStartSettings(base, { members: ['x', 'y'] }, '/', '/').members).toEqual(['x', 'y']);
    expect(usage(() => resolveStartSettings({ ...base, member: ['ok', 'not ok'] }, {}, '/', '/'))).toMatch(
      /invalid --member "not ok"/,
    );
    expect(usage(() => resolveStartSettings(base, { members: 'a,b' }, '/', '/'))).toMatch(
      /config key "members" must be an array of strings/,
    );
  });

  it('takes log retention in seconds from flags or the file, and checks it', () => {
    expect(resolveStartSettings(base, {}, '/', '/')).toMatchObject({
      logKeepSeconds: undefined,
      logMaxAgeSeconds: undefined,
    });
    expect(
      resolveStartSettings({ ...base, logKeep: '60' }, { logKeepSeconds: 5, logMaxAgeSeconds: 0 }, '/', '/'),
    ).toMatchObject({ logKeepSeconds: 60, logMaxAgeSeconds: 0 });
    expect(usage(() => resolveStartSettings({ ...base, logKeep: '-1' }, {}, '/', '/'))).toMatch(
      /invalid --log-keep "-1"/,
    );
    expect(usage(() => resolveStartSettings({ ...base, logMaxAge: '1h' }, {}, '/', '/'))).toMatch(
      /invalid --log-max-age "1h"/,
    );
    expect(
      usage(() => resolveStartSettings({ ...base, logKeep: '600', logMaxAge: '60' }, {}, '/', '/')),
    ).toMatch(/--log-max-age 60: use 0 \(never\) or at least --log-keep \(600 s\)/);
    expect(usage(() => resolveStartSettings(base, { logKeepSeconds: '5' }, '/', '/'))).toMatch(
      /config key "logKeepSeconds"/,
    );
  });

  it('normalises listen addresses, keeping loopback when no host is given', () => {
    expect(parseListen('7400')).toBe('127.0.0.1:7400');
    expect(parseListen(':7400')).toBe('127.0.0.1:7400');
    expect(parseListen('0.0.0.0:80')).toBe('0.0.0.0:80');
    expect(parseListen('[::1]:7400')).toBe('[::1]:7400');
    expect(parseListen('localhost:0')).toBe('localhost:0');
  });

  it.each([
    [{ id: undefined }, /missing --id/],
    [{ id: '-bad' }, /invalid --id "-bad"/],
    [{ id: 'x'.repeat(65) }, /invalid --id/],
    [{ data: undefined }, /missing --data/],
    [{ memory: true }, /either --data <dir> or --memory/],
    [{ listen: '127.0.0.1:70000' }, /invalid --listen/],
    [{ listen: 'host:port' }, /invalid --listen/],
    [{ peer: ['not a url'] }, /invalid --peer "not a url"/],
    [{ peer: ['ftp://x:1'] }, /invalid --peer/],
    [{ peer: ['ws://x:1/v1/peers', 'ws://x:1/v1/peers'] }, /given twice/],
    [{ role: 'leader' }, /invalid --role "leader": use multi, primary, replica/],
    [{ cluster: 'has space' }, /invalid --cluster/],
    [{ secretFile: undefined }, /missing --secret-file/],
    [{ collection: ['carts'] }, /invalid --collection "carts"/],
    [{ collection: ['carts=crdt'] }, /invalid mode "crdt" for collection "carts"/],
    [{ collection: ['bad/name=mv'] }, /invalid collection name/],
    [{ ackTimeout: 'soon' }, /invalid --ack-timeout "soon"/],
    [{ ackTimeout: '0' }, /invalid --ack-timeout "0": use a whole number ≥ 1/],
    [{ readTimeout: '-1' }, /invalid --read-timeout/],
    [{ maxBody: '1.5' }, /invalid --max-body/],
    [{ logLevel: 'loud' }, /invalid --log-level "loud"/],
    [{ lagWarn: 'x' }, /invalid --lag-warn/],
  ] as [Partial<Record<keyof StartFlags, unknown>>, RegExp][])(
    'refuses %o with one clear line',
    (flags, message) => {
      expect(usage(() => resolveStartSettings({ ...base, ...(flags as StartFlags) }, {}, '/', '/'))).toMatch(
        message,
      );
    },
  );

  it('accepts --memory without --data', () => {
    const settings = resolveStartSettings({ id: 'a', memory: true, secretFile: '/s' }, {}, '/', '/');
    expect(settings.dataDir).toBeUndefined();
  });

  it('resolves relative flag paths against the working directory', () => {
    const settings = resolveStartSettings({ ...base, data: 'd', secretFile: 's' }, {}, '/cfg', '/work');
    expect(settings.dataDir).toBe('/work/d');
    expect(settings.secretFile).toBe('/work/s');
  });
});

describe('the config file', () => {
  const config = {
    id: 'from-file',
    data: 'data/a',
    listen: '0.0.0.0:7400',
    peers: ['ws://10.0.0.2:7400/v1/peers', 'ws://10.0.0.3:7400/v1/peers'],
    role: 'primary',
    cluster: 'prod',
    secretFile: 'secret',
    collections: { carts: 'mv' },
    ackTimeoutMs: 2000,
    readTimeoutMs: 500,
    maxBodyBytes: 1024,
    logLevel: 'warn',
    metrics: false,
    lagWarnSeconds: 30,
    members: ['a', 'b'],
    logKeepSeconds: 60,
    logMaxAgeSeconds: 3600,
  };

  it('supplies every setting, with its paths relative to the file', () => {
    const settings = resolveStartSettings({}, config, '/etc/driftless', '/work');
    expect(settings).toEqual({
      id: 'from-file',
      dataDir: '/etc/driftless/data/a',
      listen: '0.0.0.0:7400',
      peers: config.peers,
      role: 'primary',
      clusterId: 'prod',
      secretFile: '/etc/driftless/secret',
      collectionModes: { carts: 'mv' },
      ackTimeoutMs: 2000,
      readTimeoutMs: 500,
      maxBodyBytes: 1024,
      logLevel: 'warn',
      metrics: false,
      lagWarnSeconds: 30,
      members: ['a', 'b'],
      logKeepSeconds: 60,
      logMaxAgeSeconds: 3600,
      clockOffsetMs: undefined,
      clockOffsetFile: undefined,
    });
  });

  it('is overridden by flags key by key; --peer replaces the list', () => {
    const settings = resolveStartSettings(
      {
        id: 'b',
        data: 'here',
        listen: '7401',
        peer: ['ws://127.0.0.1:9/v1/peers'],
        role: 'replica',
        collection: ['docs=lww'],
        ackTimeout: '10',
        logLevel: 'debug',
        metrics: true,
      },
      config,
      '/etc/driftless',
      '/work',
    );
    expect(settings).toMatchObject({
      id: 'b',
      dataDir: '/work/here',
      listen: '127.0.0.1:7401',
      peers: ['ws://127.0.0.1:9/v1/peers'],
      role: 'replica',
      clusterId: 'prod',
      secretFile: '/etc/driftless/secret',
      collectionModes: { docs: 'lww' },
      ackTimeoutMs: 10,
      readTimeoutMs: 500,
      logLevel: 'debug',
      // `--no-metrics` absent: the file's false stands
      metrics: false,
    });
    expect(resolveStartSettings({ metrics: false }, { ...config, metrics: true }, '/', '/').metrics).toBe(
      false,
    );
  });

  it('refuses unknown keys and values of the wrong type', () => {
    expect(usage(() => checkConfigShape({ id: 'a', peer: [] }, 'c.json'))).toMatch(
      /unknown key "peer" in the config file c.json; known keys: id, data/,
    );
    expect(usage(() => checkConfigShape([], 'c.json'))).toMatch(/must hold a JSON object/);
    expect(usage(() => resolveStartSettings({}, { ...config, id: 7 }, '/', '/'))).toMatch(
      /config key "id" must be a string/,
    );
    expect(usage(() => resolveStartSettings({}, { ...config, peers: 'ws://x' }, '/', '/'))).toMatch(
      /"peers" must be an array of strings/,
    );
    expect(usage(() => resolveStartSettings({}, { ...config, collections: ['carts'] }, '/', '/'))).toMatch(
      /"collections" must be an object/,
    );
    expect(usage(() => resolveStartSettings({}, { ...config, ackTimeoutMs: 1.5 }, '/', '/'))).toMatch(
      /invalid config key "ackTimeoutMs" 1.5/,
    );
  });

  it('is read from disk, with a clear error when missing or not JSON', () => {
    const file = join(root, 'node.json');
    writeFileSync(file, JSON.stringify({ id: 'disk' }));
    expect(readConfigFile(file)).toEqual({ config: { id: 'disk' }, baseDir: root });
    expect(usage(() => readConfigFile(join(root, 'missing.json')))).toMatch(
      /cannot read the config file .*missing.json: no such file/,
    );
    writeFileSync(file, '{ id: ');
    expect(usage(() => readConfigFile(file))).toMatch(/is not valid JSON/);
  });
});

describe('the data directory', () => {
  it('is created when missing, and refused when it is a file', () => {
    const dir = join(root, 'new', 'nested');
    prepareDataDir(dir);
    const file = join(root, 'a-file');
    writeFileSync(file, 'x');
    expect(usage(() => prepareDataDir(file))).toMatch(/is a file, not a directory/);
    expect(usage(() => prepareDataDir(join(file, 'below')))).toMatch(/a parent of it is a file/);
  });

  it('remembers its cluster and refuses another', () => {
    const dir = join(root, 'clustered');
    mkdirSync(dir);
    checkDataDirCluster(dir, 'one');
    recordDataDirCluster(dir, 'one');
    checkDataDirCluster(dir, 'one');
    expect(() => checkDataDirCluster(dir, 'two')).toThrow(
      /belongs to cluster "one", not "two": start it with --cluster one/,
    );
  });
});
