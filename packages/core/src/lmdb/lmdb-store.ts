import {
  accessSync,
  closeSync,
  constants,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { type Database, open, type RootDatabase } from 'lmdb';
import { DAMAGED_STORE_ADVICE, StorageError } from '../errors.js';
import {
  type RangeOptions,
  type Store,
  type StoreEntry,
  type StoreKey,
  type StoreWrite,
  validateKey,
  validateTable,
  validateWrites,
} from '../store.js';
import { checkDataFile } from './data-file-check.js';

/** Options of LmdbStore.open. */
export interface LmdbStoreOptions {
  /** Initial size of the memory map in bytes; LMDB grows it as needed. */
  readonly mapSize?: number;
}

/** The lock file naming the process that has a data directory open. */
export const LOCK_FILE = 'driftless.pid';
const openPaths = new Set<string>();

/**
 * A store on LMDB (the `lmdb` package), for Node. Tables are LMDB named databases in one
 * environment, so a commit across tables is one LMDB transaction.
 *
 * Durability: the environment is opened with `overlappingSync: false`, so a commit's promise
 * resolves only after `mdb_txn_commit` has written and synced the transaction (with overlapping
 * sync, lmdb-js resolves at commit and syncs later, and a failed sync is never reported to the
 * write). Writes issued while a commit is in flight are batched by lmdb-js into the next
 * transaction, so concurrent commits share one sync.
 */
export class LmdbStore implements Store {
  readonly kind = 'lmdb';
  /** The data directory. */
  readonly path: string;
  readonly #env: RootDatabase;
  readonly #tables = new Map<string, Database<Uint8Array, StoreKey>>();
  #closed = false;

  private constructor(path: string, env: RootDatabase) {
    this.path = path;
    this.#env = env;
  }

  /**
   * Opens (creating if needed) the store in directory `path`. Throws STORE_DATA_DIR when the path
   * is not a usable directory or another process has it open, and STORE_CORRUPT when its files are
   * not a readable LMDB environment.
   */
  static async open(path: string, options: LmdbStoreOptions = {}): Promise<LmdbStore> {
    const dir = resolve(path);
    prepareDirectory(dir);
    if (openPaths.has(dir)) {
      throw new StorageError('STORE_DATA_DIR', `${dir} is already open in this process; close it first`);
    }
    lockDirectory(dir);
    let env: RootDatabase;
    try {
      checkDataFile(dir);
      env = open({
        path: dir,
        maxDbs: 32,
        encoding: 'binary',
        keyEncoding: 'ordered-binary',
        compression: false,
        overlappingSync: false,
        noMemInit: true,
        ...(options.mapSize === undefined ? {} : { mapSize: options.mapSize }),
      });
    } catch (error) {
      unlockDirectory(dir);
      throw error instanceof StorageError ? error : storageFailure(error, dir);
    }
    openPaths.add(dir);
    return new LmdbStore(dir, env);
  }

  async commit(writes: readonly StoreWrite[]): Promise<void> {
    this.#assertOpen();
    validateWrites(writes);
    const resolved = writes.map((write) => [this.#table(write.table), write] as const);
    // Plain puts, not a transaction callback: lmdb-js commits every write queued in one event turn
    // in one transaction (eventTurnBatching), and its worker thread writes them without calling
    // back into this thread, which a busy event loop would delay. Writes of one transaction share
    // one promise.
    const committed = new Set<Promise<unknown>>();
    for (const [db, { key, value }] of resolved)
      committed.add(value === undefined ? db.remove(key) : db.put(key, value));
    try {
      await (committed.size === 1 ? committed.values().next().value : Promise.all(committed));
    } catch (error) {
      const cause = await commitFailureCause(error);
      throw new StorageError(
        'STORE_WRITE_FAILED',
        `a commit to ${this.path} failed and was not acknowledged: ${(cause as Error)?.message ?? String(cause)}`,
        { cause },
      );
    }
  }

  async get(table: string, key: StoreKey): Promise<Uint8Array | undefined> {
    this.#assertOpen();
    validateTable(table);
    validateKey(key);
    try {
      return this.#table(table).get(key);
    } catch (error) {
      throw storageFailure(error, this.path);
    }
  }

  async *range(table: string, options: RangeOptions = {}): AsyncIterable<StoreEntry> {
    this.#assertOpen();
    validateTable(table);
    if (options.start !== undefined) validateKey(options.start);
    if (options.end !== undefined) validateKey(options.end);
    const { start, end, reverse, limit } = options;
    try {
      const entries = this.#table(table).getRange({
        ...(start === undefined ? {} : { start }),
        ...(end === undefined ? {} : { end }),
        ...(reverse === undefined ? {} : { reverse }),
        ...(limit === undefined ? {} : { limit }),
      });
      for (const { key, value } of entries) {
        yield { key: key as StoreKey, value };
        this.#assertOpen();
      }
    } catch (error) {
      if (error instanceof StorageError) throw error;
      throw storageFailure(error, this.path);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#env.close();
    } finally {
      openPaths.delete(this.path);
      unlockDirectory(this.path);
    }
  }

  #table(name: string): Database<Uint8Array, StoreKey> {
    let db = this.#tables.get(name);
    if (!db) {
      validateTable(name);
      db = this.#env.openDB<Uint8Array, StoreKey>(name, {
        encoding: 'binary',
        keyEncoding: 'ordered-binary',
      });
      this.#tables.set(name, db);
    }
    return db;
  }

  #assertOpen(): void {
    if (this.#closed)
      throw new StorageError('STORE_CLOSED', `the store at ${this.path} is closed; open it again`);
  }
}

/**
 * lmdb-js rejects a failed commit with a generic error whose `commitError` is a second promise
 * holding the real cause (ENOSPC, EIO, …); left unhandled, that promise becomes an unhandled
 * rejection. Consume it and return the real cause.
 */
async function commitFailureCause(error: unknown): Promise<unknown> {
  const detail = (error as { commitError?: unknown } | undefined)?.commitError;
  if (!(detail instanceof Promise)) return error;
  try {
    await detail;
    return error;
  } catch (cause) {
    return cause;
  }
}

function prepareDirectory(dir: string): void {
  try {
    const stat = statSync(dir, { throwIfNoEntry: false });
    if (stat && !stat.isDirectory()) {
      throw new StorageError(
        'STORE_DATA_DIR',
        `${dir} is not a directory: give a directory for the node's data`,
      );
    }
    if (!stat) mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (error) {
    if (error instanceof StorageError) throw error;
    throw new StorageError(
      'STORE_DATA_DIR',
      `cannot use ${dir} as a data directory (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): ` +
        'check that it exists or can be created, and that this user may read and write it',
      { cause: error },
    );
  }
}

/** Takes the directory's lock file, refusing if a live process other than this one holds it. */
function lockDirectory(dir: string): void {
  const lockPath = join(dir, LOCK_FILE);
  let holder = Number.NaN;
  try {
    holder = Number.parseInt(readFileSync(lockPath, 'utf8'), 10);
  } catch {
    // no lock file: nobody holds it
  }
  if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
    throw new StorageError(
      'STORE_DATA_DIR',
      `${dir} is in use by process ${holder}: stop that node first, or give this one another data directory`,
    );
  }
  const fd = openSync(lockPath, 'w');
  try {
    writeSync(fd, String(process.pid));
  } finally {
    closeSync(fd);
  }
}

function unlockDirectory(dir: string): void {
  rmSync(join(dir, LOCK_FILE), { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Classifies an LMDB failure: unreadable files are STORE_CORRUPT, permission problems STORE_DATA_DIR. */
function storageFailure(error: unknown, dir: string): StorageError {
  const message = (error as Error)?.message ?? String(error);
  if (/EACCES|EPERM|EROFS/.test(message)) {
    return new StorageError('STORE_DATA_DIR', `cannot open the store in ${dir}: ${message}`, {
      cause: error,
    });
  }
  return new StorageError(
    'STORE_CORRUPT',
    `the store in ${dir} cannot be read (${message}): ${DAMAGED_STORE_ADVICE}`,
    { cause: error },
  );
}
