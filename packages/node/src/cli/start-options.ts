/**
 * `driftless start` options: the flags, an optional JSON config file, and the rules that merge
 * and check them. Flags override the file key by key (a `--peer` list replaces the file's
 * `peers`); relative paths in the file are relative to the file. Every mistake is a UsageError
 * whose message names the flag or key and says what is allowed, before anything is started.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isCollectionName, isNodeId } from '@driftless/core';
import { isClusterId } from '@driftless/sync';
import { peerDialUrl } from '../addresses.js';
import { DEFAULT_RETENTION } from '../log-retention.js';
import { UsageError } from './usage-error.js';

/** The roles a node can start in. */
export const START_ROLES = ['multi', 'primary', 'replica'] as const;
/** A role a node can start in. */
export type StartRole = (typeof START_ROLES)[number];

/** pino's levels, plus `silent`. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
/** A log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The default address: loopback only, a port the OS picks (printed on start). */
export const DEFAULT_LISTEN = '127.0.0.1:0';
/** Peer lag, in seconds, above which a warning is logged (and again once it recovers). */
export const DEFAULT_LAG_WARN_SECONDS = 10;

/** The flags of `driftless start`, as commander hands them over (all strings, unchecked). */
export interface StartFlags {
  readonly id?: string;
  readonly data?: string;
  readonly memory?: boolean;
  readonly listen?: string;
  readonly peer?: readonly string[];
  readonly member?: readonly string[];
  readonly role?: string;
  readonly cluster?: string;
  readonly secretFile?: string;
  readonly collection?: readonly string[];
  readonly ackTimeout?: string;
  readonly readTimeout?: string;
  readonly maxBody?: string;
  readonly logLevel?: string;
  /** false for `--no-metrics`. */
  readonly metrics?: boolean;
  readonly lagWarn?: string;
  readonly logKeep?: string;
  readonly logMaxAge?: string;
  readonly clockOffsetMs?: string;
  readonly clockOffsetFile?: string;
  readonly config?: string;
}

/** What `driftless start` runs with, once flags and the config file are merged and checked. */
export interface StartSettings {
  readonly id: string;
  /** Absolute; undefined for an in-memory node (`--memory`). */
  readonly dataDir: string | undefined;
  /** `host:port`. */
  readonly listen: string;
  readonly peers: readonly string[];
  /** Every node of the cluster (empty: tombstones are never collected). */
  readonly members: readonly string[];
  readonly role: StartRole;
  readonly clusterId: string | undefined;
  /** Absolute. */
  readonly secretFile: string;
  readonly collectionModes: Readonly<Record<string, 'lww' | 'mv'>>;
  readonly ackTimeoutMs: number | undefined;
  readonly readTimeoutMs: number | undefined;
  readonly maxBodyBytes: number | undefined;
  readonly logLevel: LogLevel;
  readonly metrics: boolean;
  readonly lagWarnSeconds: number;
  /** Log retention: keep entries at least this long (undefined: the node's default). */
  readonly logKeepSeconds: number | undefined;
  /** Log retention: delete entries older than this even if a peer lacks them; 0 never (undefined: default). */
  readonly logMaxAgeSeconds: number | undefined;
  /** Fault injection: added to the system clock behind HLC timestamps (undefined: none). */
  readonly clockOffsetMs: number | undefined;
  /** Fault injection: a file holding more offset ms, re-read when it changes (absolute). */
  readonly clockOffsetFile: string | undefined;
}

/** The keys a config file may hold, and the flag each corresponds to. */
export const CONFIG_KEYS = {
  id: '--id',
  data: '--data',
  memory: '--memory',
  listen: '--listen',
  peers: '--peer',
  members: '--member',
  role: '--role',
  cluster: '--cluster',
  secretFile: '--secret-file',
  collections: '--collection',
  ackTimeoutMs: '--ack-timeout',
  readTimeoutMs: '--read-timeout',
  maxBodyBytes: '--max-body',
  logLevel: '--log-level',
  metrics: '--no-metrics',
  lagWarnSeconds: '--lag-warn',
  logKeepSeconds: '--log-keep',
  logMaxAgeSeconds: '--log-max-age',
  clockOffsetMs: '--clock-offset-ms',
  clockOffsetFile: '--clock-offset-file',
} as const;

/** The largest clock offset accepted, either way: ten years of milliseconds. */
export const MAX_CLOCK_OFFSET_MS = 10 * 365 * 24 * 3600 * 1000;

type ConfigKey = keyof typeof CONFIG_KEYS;

/** A config file's content, checked for shape (values are checked with the flags). */
export type StartConfig = { readonly [K in ConfigKey]?: unknown };

/** Reads and parses a JSON config file; relative paths in it resolve against its directory. */
export function readConfigFile(path: string): { config: StartConfig; baseDir: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read the config file ${path}: ${reason(error)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`the config file ${path} is not valid JSON: ${reason(error)}`);
  }
  return { config: checkConfigShape(parsed, path), baseDir: dirname(resolve(path)) };
}

/** Throws unless `value` is an object whose keys are all known config keys. */
export function checkConfigShape(value: unknown, source: string): StartConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(`the config file ${source} must hold a JSON object`);
  }
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(CONFIG_KEYS, key)) {
      throw new UsageError(
        `unknown key "${key}" in the config file ${source}; known keys: ${Object.keys(CONFIG_KEYS).join(', ')}`,
      );
    }
  }
  return value as StartConfig;
}

/**
 * Merges flags over a config file and checks every value. `baseDir` resolves relative paths of
 * the config file; `cwd` those of flags.
 */
export function resolveStartSettings(
  flags: StartFlags,
  config: StartConfig = {},
  baseDir = process.cwd(),
  cwd = process.cwd(),
): StartSettings {
  const id = pick(flags.id, config.id, 'id', 'string');
  if (id === undefined) throw new UsageError('missing --id <node>: every node needs a stable id');
  if (!isNodeId(id)) {
    throw new UsageError(
      `invalid --id ${JSON.stringify(id)}: use 1-64 characters from A-Z a-z 0-9 . _ - starting with a letter or digit`,
    );
  }

  const memory = pick(flags.memory, config.memory, 'memory', 'boolean') ?? false;
  const dataFlag = flags.data !== undefined ? resolve(cwd, flags.data) : undefined;
  const dataConfig = pick(undefined, config.data, 'data', 'string');
  const data = dataFlag ?? (dataConfig !== undefined ? resolve(baseDir, dataConfig) : undefined);
  if (memory && data !== undefined) {
    throw new UsageError('give either --data <dir> or --memory, not both');
  }
  if (!memory && data === undefined) {
    throw new UsageError('missing --data <dir> (or --memory for a node that keeps nothing on disk)');
  }
  if (data === '') throw new UsageError('--data must name a directory');

  const listen = parseListen(pick(flags.listen, config.listen, 'listen', 'string') ?? DEFAULT_LISTEN);

  const peers = flags.peer && flags.peer.length > 0 ? [...flags.peer] : stringList(config.peers, 'peers');
  for (const peer of peers) checkPeerUrl(peer);
  if (new Set(peers).size !== peers.length) throw new UsageError('a --peer is given twice');

  const members =
    flags.member && flags.member.length > 0 ? [...flags.member] : stringList(config.members, 'members');
  for (const member of members) {
    if (!isNodeId(member)) {
      throw new UsageError(
        `invalid --member ${JSON.stringify(member)}: use the node's id (1-64 characters from A-Z a-z 0-9 . _ -)`,
      );
    }
  }

  const role = pick(flags.role, config.role, 'role', 'string') ?? 'multi';
  if (!(START_ROLES as readonly string[]).includes(role)) {
    throw new UsageError(`invalid --role ${JSON.stringify(role)}: use ${START_ROLES.join(', ')}`);
  }

  const clusterId = pick(flags.cluster, config.cluster, 'cluster', 'string');
  if (clusterId !== undefined && !isClusterId(clusterId)) {
    throw new UsageError(
      `invalid --cluster ${JSON.stringify(clusterId)}: use 1-64 characters from A-Z a-z 0-9 . _ -`,
    );
  }

  const secretFlag = flags.secretFile !== undefined ? resolve(cwd, flags.secretFile) : undefined;
  const secretConfig = pick(undefined, config.secretFile, 'secretFile', 'string');
  const secretFile = secretFlag ?? (secretConfig !== undefined ? resolve(baseDir, secretConfig) : undefined);
  if (secretFile === undefined) {
    throw new UsageError(
      'missing --secret-file <file>: the cluster secret (at least 16 bytes, the same on every node)',
    );
  }

  const collectionModes =
    flags.collection && flags.collection.length > 0
      ? parseCollectionFlags(flags.collection)
      : collectionsFromConfig(config.collections);

  const logLevel = pick(flags.logLevel, config.logLevel, 'logLevel', 'string') ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new UsageError(`invalid --log-level ${JSON.stringify(logLevel)}: use ${LOG_LEVELS.join(', ')}`);
  }

  const offsetFileFlag =
    flags.clockOffsetFile !== undefined ? resolve(cwd, flags.clockOffsetFile) : undefined;
  const offsetFileConfig = pick(undefined, config.clockOffsetFile, 'clockOffsetFile', 'string');
  const clockOffsetFile =
    offsetFileFlag ?? (offsetFileConfig !== undefined ? resolve(baseDir, offsetFileConfig) : undefined);

  const logKeepSeconds = count(flags.logKeep, config.logKeepSeconds, 'logKeepSeconds', 0);
  const logMaxAgeSeconds = count(flags.logMaxAge, config.logMaxAgeSeconds, 'logMaxAgeSeconds', 0);
  const keptSeconds = logKeepSeconds ?? DEFAULT_RETENTION.keepMs / 1000;
  if (logMaxAgeSeconds !== undefined && logMaxAgeSeconds > 0 && logMaxAgeSeconds < keptSeconds) {
    throw new UsageError(
      `invalid --log-max-age ${logMaxAgeSeconds}: use 0 (never) or at least --log-keep (${keptSeconds} s)`,
    );
  }

  return {
    id,
    dataDir: data,
    listen,
    peers,
    members,
    role: role as StartRole,
    clusterId,
    secretFile,
    collectionModes,
    ackTimeoutMs: count(flags.ackTimeout, config.ackTimeoutMs, 'ackTimeoutMs', 1),
    readTimeoutMs: count(flags.readTimeout, config.readTimeoutMs, 'readTimeoutMs', 0),
    maxBodyBytes: count(flags.maxBody, config.maxBodyBytes, 'maxBodyBytes', 1),
    logLevel: logLevel as LogLevel,
    // `--no-metrics` sets false; commander leaves true otherwise, so only false overrides the file.
    metrics:
      flags.metrics === false ? false : (pick(undefined, config.metrics, 'metrics', 'boolean') ?? true),
    lagWarnSeconds:
      count(flags.lagWarn, config.lagWarnSeconds, 'lagWarnSeconds', 0) ?? DEFAULT_LAG_WARN_SECONDS,
    logKeepSeconds,
    logMaxAgeSeconds,
    clockOffsetMs:
      flags.clockOffsetMs !== undefined
        ? parseClockOffset(flags.clockOffsetMs, '--clock-offset-ms')
        : config.clockOffsetMs !== undefined
          ? parseClockOffset(config.clockOffsetMs, 'config key "clockOffsetMs"', false)
          : undefined,
    clockOffsetFile,
  };
}

/**
 * A clock offset in whole milliseconds, negative to set the clock back: a flag or an offset file's
 * text (a string; `text` false refuses strings), or a config file's number. `source` names where it
 * came from in the error.
 */
export function parseClockOffset(value: unknown, source: string, text = true): number {
  const fromText = text && typeof value === 'string' && /^-?\d+$/.test(value.trim());
  const offset = fromText ? Number(value) : value;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || Math.abs(offset) > MAX_CLOCK_OFFSET_MS) {
    throw new UsageError(
      `invalid ${source} ${JSON.stringify(value)}: use a whole number of milliseconds (negative sets the clock back), at most ±${MAX_CLOCK_OFFSET_MS}`,
    );
  }
  return offset;
}

/** Normalises `host:port`, `:port`, `port` or `[v6]:port` to `host:port`; loopback when no host. */
export function parseListen(value: string): string {
  const match = /^(?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]*):)?(\d{1,5})$/.exec(value.trim());
  const port = match ? Number(match[2]) : Number.NaN;
  if (!match || !(port >= 0 && port <= 65535)) {
    throw new UsageError(
      `invalid --listen ${JSON.stringify(value)}: use host:port (for example 127.0.0.1:7400, or 0.0.0.0:7400 for every interface)`,
    );
  }
  return `${match[1] || '127.0.0.1'}:${port}`;
}

/** Throws unless `url` is a peer address the node can dial (http://host:port, ws://host:port/v1/peers, host:port). */
export function checkPeerUrl(url: string): void {
  try {
    peerDialUrl(url);
  } catch {
    throw new UsageError(
      `invalid --peer ${JSON.stringify(url)}: use the peer's http://host:port (or the ws:// peer URL it printed on start)`,
    );
  }
}

/** Parses repeated `--collection name=lww|mv`. */
export function parseCollectionFlags(values: readonly string[]): Record<string, 'lww' | 'mv'> {
  const modes: Record<string, 'lww' | 'mv'> = {};
  for (const value of values) {
    const [name, mode, ...rest] = value.split('=');
    if (rest.length > 0 || name === undefined || mode === undefined) {
      throw new UsageError(`invalid --collection ${JSON.stringify(value)}: use name=lww or name=mv`);
    }
    modes[checkCollection(name, mode, '--collection')] = mode as 'lww' | 'mv';
  }
  return modes;
}

function collectionsFromConfig(value: unknown): Record<string, 'lww' | 'mv'> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError('the config key "collections" must be an object like {"carts": "mv"}');
  }
  const modes: Record<string, 'lww' | 'mv'> = {};
  for (const [name, mode] of Object.entries(value)) {
    modes[checkCollection(name, mode, 'collections')] = mode as 'lww' | 'mv';
  }
  return modes;
}

function checkCollection(name: string, mode: unknown, where: string): string {
  if (!isCollectionName(name)) {
    throw new UsageError(`invalid collection name ${JSON.stringify(name)} in ${where}`);
  }
  if (mode !== 'lww' && mode !== 'mv') {
    throw new UsageError(
      `invalid mode ${JSON.stringify(mode)} for collection "${name}" in ${where}: use lww or mv`,
    );
  }
  return name;
}

function pick<T extends 'string' | 'boolean'>(
  flag: (T extends 'string' ? string : boolean) | undefined,
  config: unknown,
  key: ConfigKey,
  type: T,
): (T extends 'string' ? string : boolean) | undefined {
  if (flag !== undefined) return flag;
  if (config === undefined) return undefined;
  if (typeof config !== type) throw new UsageError(`the config key "${key}" must be a ${type}`);
  return config as T extends 'string' ? string : boolean;
}

function stringList(value: unknown, key: ConfigKey): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new UsageError(`the config key "${key}" must be an array of strings`);
  }
  return [...value];
}

/** A whole number ≥ min from a flag (string) or the config file (number). */
function count(flag: string | undefined, config: unknown, key: ConfigKey, min: number): number | undefined {
  const value = flag !== undefined ? (/^\d+$/.test(flag.trim()) ? Number(flag) : Number.NaN) : config;
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    const name = flag !== undefined ? CONFIG_KEYS[key] : `config key "${key}"`;
    throw new UsageError(`invalid ${name} ${JSON.stringify(flag ?? value)}: use a whole number ≥ ${min}`);
  }
  return value;
}

function reason(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error && error.code === 'ENOENT') return 'no such file';
  return error instanceof Error ? error.message : String(error);
}
