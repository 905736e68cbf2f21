/**
 * The data directory as `driftless start` sees it before the node opens its store: a directory
 * this process can read and write, and a record of the cluster it belongs to. (The store itself
 * records its node id and refuses another with STORE_WRONG_NODE; the cluster id is not part of
 * the store, so the CLI keeps it beside it.)
 */
import { accessSync, constants, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError, UsageError } from './usage-error.js';

/** The file in a data directory that names its cluster. */
export const CLUSTER_FILE = 'driftless-cluster.json';

/** Creates `dir` if needed; throws UsageError unless it is a directory this process can use. */
export function prepareDataDir(dir: string): void {
  try {
    const stat = statSync(dir, { throwIfNoEntry: false });
    if (stat && !stat.isDirectory()) {
      throw new UsageError(`the data directory ${dir} is a file, not a directory: give --data a directory`);
    }
    if (!stat) mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'ENOTDIR'
          ? 'a parent of it is a file'
          : code === 'EROFS'
            ? 'the file system is read-only'
            : (error as Error).message;
    throw new UsageError(`cannot use the data directory ${dir}: ${why}`);
  }
}

/** The cluster a data directory belongs to, if it was recorded. */
export function readDataDirCluster(dir: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, CLUSTER_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UsageError(`cannot read ${join(dir, CLUSTER_FILE)}: ${(error as Error).message}`);
  }
  try {
    const clusterId = (JSON.parse(text) as { clusterId?: unknown }).clusterId;
    if (typeof clusterId === 'string') return clusterId;
  } catch {
    // reported below
  }
  throw new UsageError(
    `${join(dir, CLUSTER_FILE)} is damaged: write {"clusterId": "<the cluster's id>"} into it, or move the data directory aside`,
  );
}

/** Throws CommandError when `dir` belongs to another cluster (like a store of another node). */
export function checkDataDirCluster(dir: string, clusterId: string): void {
  const recorded = readDataDirCluster(dir);
  if (recorded !== undefined && recorded !== clusterId) {
    throw new CommandError(
      `the data directory ${dir} belongs to cluster "${recorded}", not "${clusterId}": start it with --cluster ${recorded}, or give this node an empty data directory`,
    );
  }
}

/** Records the cluster of `dir` (once its node has started). */
export function recordDataDirCluster(dir: string, clusterId: string): void {
  if (readDataDirCluster(dir) === clusterId) return;
  writeFileSync(join(dir, CLUSTER_FILE), `${JSON.stringify({ clusterId })}\n`);
}
