/**
 * `driftless start`: runs one node in the foreground until SIGTERM or SIGINT, then closes it
 * gracefully (ops in flight are applied, the store is closed). On start it prints its URLs to
 * stdout; logs are JSON lines on stderr.
 *
 * Every way to fail before serving — a bad flag, an unreadable secret or data directory, a data
 * directory of another node or cluster, a port in use — ends with one line and a non-zero status.
 */

import { createLogger, eventLogger, type Logger } from '../logger.js';
import { mountMetrics, type NodeMetrics } from '../metrics.js';
import { DriftlessNode, type NodeOptions } from '../node.js';
import { readSecretText } from './data-commands.js';
import { checkDataDirCluster, prepareDataDir, recordDataDirCluster } from './data-dir.js';
import type { StartSettings } from './start-options.js';
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
  const options: NodeOptions = {
    id: settings.id,
    listen: settings.listen,
    peers: settings.peers,
    role: settings.role,
    clusterId,
    secret,
    collectionModes: settings.collectionModes,
    onEvent: eventLogger(logger),
    ...(settings.dataDir !== undefined ? { dataDir: settings.dataDir } : {}),
    ...(settings.ackTimeoutMs !== undefined ? { ackTimeoutMs: settings.ackTimeoutMs } : {}),
    ...(settings.readTimeoutMs !== undefined ? { readTimeoutMs: settings.readTimeoutMs } : {}),
    ...(settings.maxBodyBytes !== undefined ? { maxBodyBytes: settings.maxBodyBytes } : {}),
  };

  let node: DriftlessNode;
  try {
    node = await DriftlessNode.start(options);
  } catch (error) {
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
  return stop(node, logger, signal);
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
