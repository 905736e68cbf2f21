import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { DAMAGED_STORE_ADVICE, StorageError } from '../errors.js';

/**
 * A check of LMDB's data file before LMDB maps it. lmdb-js crashes the whole process (SIGSEGV)
 * when `data.mdb` is not an LMDB file or is cut short, so a damaged store must be caught here to
 * become a typed error instead.
 *
 * Layout checked (the two meta pages, as lmdb-js 3.x writes them): at offset 24 of page 0 and of
 * page 1, the magic 0xBEEFC0DE; at 48, the page size; at 144, the last page in use; at 152, the
 * transaction id. The meta with the higher transaction id is current, and the file must hold
 * every page up to its last page.
 */
const MAGIC = 0xbeefc0de;
const MAGIC_AT = 24;
const PAGE_SIZE_AT = 48;
const LAST_PAGE_AT = 144;
const TXN_ID_AT = 152;
const META_BYTES = 160;

/** The data file of an LMDB environment in `dir`. */
export const DATA_FILE = 'data.mdb';

/** Throws STORE_CORRUPT unless `dir`'s data file is absent, empty, or a whole LMDB file. */
export function checkDataFile(dir: string): void {
  const path = join(dir, DATA_FILE);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new StorageError('STORE_DATA_DIR', `cannot read ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return; // LMDB initialises an empty file as a new environment
    const first = readAt(fd, 0, META_BYTES);
    const pageSize = first.length === META_BYTES ? first.readUInt32LE(PAGE_SIZE_AT) : 0;
    if (first.length < META_BYTES || first.readUInt32LE(MAGIC_AT) !== MAGIC || !isPageSize(pageSize)) {
      damaged(path, 'it is not an LMDB data file');
    }
    const second = readAt(fd, pageSize, META_BYTES);
    const metas = [first, second].filter(
      (meta) => meta.length === META_BYTES && meta.readUInt32LE(MAGIC_AT) === MAGIC,
    );
    const current = metas.reduce((a, b) =>
      b.readBigUInt64LE(TXN_ID_AT) > a.readBigUInt64LE(TXN_ID_AT) ? b : a,
    );
    const needed = (Number(current.readBigUInt64LE(LAST_PAGE_AT)) + 1) * pageSize;
    if (size < needed)
      damaged(path, `it is cut short (${size} bytes of the ${needed} its last commit wrote)`);
  } finally {
    closeSync(fd);
  }
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  const read = readSync(fd, buffer, 0, length, position);
  return buffer.subarray(0, read);
}

function isPageSize(size: number): boolean {
  return size >= 512 && size <= 65536 && (size & (size - 1)) === 0;
}

function damaged(path: string, why: string): never {
  throw new StorageError('STORE_CORRUPT', `${path} is damaged: ${why}: ${DAMAGED_STORE_ADVICE}`);
}
