/**
 * `driftless start`: runs one node in the foreground until SIGTERM or SIGINT, then closes it
 * gracefully (ops in flight are applied, the store is closed). On start it prints its URLs to
 * stdout; logs are JSON lines on stderr.
 *
 * Every way to fail before serving — a bad flag, an unreadable secret or data directory, a data
 * directory of another node or cluster, a port in use — ends with one line and a non-zero status.
 */

import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createLogger, eventLogger, type Logger } from '../logger.js';
import { mountMetrics, type NodeMetrics } from '../metrics.js';
import { DriftlessNode, type NodeOptions } from '../node.js';
import { readSecretText } from './data-commands.js';
import { checkDataDirCluster, prepareDataDir, recordDataDirCluster } from './data-dir.js';
import { parseClockOffset, type StartSettings } from './start-options.js';
import { CommandError, UsageError } from './usage-error.js';

/** The cluster id a node uses when none is given (the node's own default). */
export const DEFAULT_CLUSTER_ID = 'driftless';

/** Where start prints, and the process it runs in (replaced in tests). */
export interface StartHost {
  out(text: string): void;
  /** Resolves with the signal that asks the node to stop. */
  stopSignal(): Promise<string>;
}

/** Starts a node with `settings`, serves until a stop signal, and closes it. Returns the exit status. */
export async function runStart(settings: StartSettings, host: StartHost): Promise<number> {
  const secret = readSecretText(settings.secretFile);
  const clusterId = settings.clusterId ?? DEFAULT_CLUSTER_ID;
  if (settings.dataDir !== undefined) {
    prepareDataDir(settings.dataDir);
    checkDataDirCluster(settings.dataDir, clusterId);
  }
  const logger = createLogger({ level: settings.logLevel, nodeId: settings.id });
  const clock = faultClock(settings, logger);
  const options: NodeOptions = {
    id: settings.id,
    listen: settings.listen,
    peers: settings.peers,
    members: settings.members,
    role: settings.role,
    clusterId,
    secret,
    collectionModes: settings.collectionModes,
    onEvent: eventLogger(logger),
    ...(settings.dataDir !== undefined ? { dataDir: settings.dataDir } : {}),
    ...(settings.ackTimeoutMs !== undefined ? { ackTimeoutMs: settings.ackTimeoutMs } : {}),
    ...(settings.readTimeoutMs !== undefined ? { readTimeoutMs: settings.readTimeoutMs } : {}),
    ...(settings.maxBodyBytes !== undefined ? { maxBodyBytes: settings.maxBodyBytes } : {}),
    ...(clock !== undefined ? { clock: clock.now } : {}),
    retention: {
      ...(settings.logKeepSeconds !== undefined ? { keepMs: settings.logKeepSeconds * 1000 } : {}),
      ...(settings.logMaxAgeSeconds !== undefined ? { maxAgeMs: settings.logMaxAgeSeconds * 1000 } : {}),
    },
  };

  let node: DriftlessNode;
  try {
    node = await DriftlessNode.start(options);
  } catch (error) {
    clock?.stop();
    throw startFailure(error, settings);
  }
  let metrics: NodeMetrics;
  try {
    if (settings.dataDir !== undefined) recordDataDirCluster(settings.dataDir, clusterId);
    metrics = mountMetrics(node, {
      logger,
      lagWarnSeconds: settings.lagWarnSeconds,
      serve: settings.metrics,
    });
  } catch (error) {
    await node.close();
    throw error;
  }

  host.out(banner(node, settings, clusterId));
  logger.info(
    { event: 'started', url: node.url, peerUrl: node.peerUrl, role: settings.role, peers: settings.peers },
    'node started',
  );

  const signal = await host.stopSignal();
  metrics.stop();
  clock?.stop();
  return stop(node, logger, signal);
}

/** How often the clock offset file is checked for a change (a test's clock jump lands this late). */
const OFFSET_FILE_POLL_MS = 50;

/**
 * The skewed wall clock of `--clock-offset-ms` / `--clock-offset-file` (fault injection only):
 * the system clock plus both offsets. The file is re-read whenever it changes, so a test can jump
 * a running node's clock; a bad value there keeps the previous offset (logged), since a running
 * node must not die of it. Undefined when neither is given: the node reads Date.now itself.
 */
function faultClock(
  settings: StartSettings,
  logger: Logger,
): { now: () => number; stop: () => void } | undefined {
  const path = settings.clockOffsetFile;
  const offsetMs = settings.clockOffsetMs ?? 0;
  if (settings.clockOffsetMs === undefined && path === undefined) return undefined;
  const readOffset = (file: string): number => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read the clock offset file ${file}: ${describe(error)}`);
    }
    return parseClockOffset(text.trim(), `clock offset in ${file}:`);
  };
  let fileOffsetMs = path === undefined ? 0 : readOffset(path);
  if (path !== undefined) {
    watchFile(path, { interval: OFFSET_FILE_POLL_MS, persistent: false }, () => {
      try {
        fileOffsetMs = readOffset(path);
        logger.warn({ event: 'clock-offset', offsetMs: offsetMs + fileOffsetMs }, 'clock offset changed');
      } catch (error) {
        logger.warn({ event: 'clock-offset-invalid', error: describe(error) }, 'clock offset file ignored');
      }
    });
  }
  return {
    now: () => Date.now() + offsetMs + fileOffsetMs,
    stop: () => {
      if (path !== undefined) unwatchFile(path);
    },
  };
}

async function stop(node: DriftlessNode, logger: Logger, signal: string): Promise<number> {
  logger.info({ event: 'stopping', signal }, `stopping on ${signal}`);
  try {
    await node.close();
  } catch (error) {
    logger.error({ event: 'stop-failed', error: describe(error) }, 'the node did not close cleanly');
    return 1;
  }
  logger.info({ event: 'stopped' }, 'node stopped');
  return 0;
}

/** What start prints once the node serves: its URLs, and how to reach it. */
function banner(node: DriftlessNode, settings: StartSettings, clusterId: string): string {
  return [
    `driftless node ${settings.id} (${settings.role}, cluster ${clusterId}) is up`,
    `  api      ${node.url}`,
    `  peers    ${node.peerUrl}`,
    ...(settings.metrics ? [`  metrics  ${node.url}/metrics`] : []),
    `  data     ${settings.dataDir ?? 'in memory (lost when the node stops)'}`,
    ...(settings.peers.length > 0 ? [`  dialing  ${settings.peers.join(' ')}`] : []),
  ].join('\n');
}

/** A one-line error for each way the node can fail to start. */
function startFailure(error: unknown, settings: StartSettings): Error {
  const code = (error as { code?: unknown } | null)?.code;
  const message = describe(error);
  switch (code) {
    case 'EADDRINUSE':
    case 'TRANSPORT_ADDRESS_IN_USE':
      return new CommandError(
        `cannot listen on ${settings.listen}: the address is in use (another node or program has it; pick another --listen port)`,
      );
    case 'EACCES':
      return new CommandError(`cannot listen on ${settings.listen}: permission denied (use a port ≥ 1024)`);
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new CommandError(`cannot listen on ${settings.listen}: no such local address`);
    case 'STORE_WRONG_NODE':
    case 'STORE_DATA_DIR':
    case 'STORE_FORMAT':
    case 'STORE_CORRUPT':
      return new CommandError(`cannot open the data directory ${settings.dataDir}: ${message}`);
    case 'INVALID_ARGUMENT':
      return new UsageError(message);
    default:
      return new CommandError(
        `the node failed to start: ${typeof code === 'string' ? `${code}: ` : ''}${message}`,
      );
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
