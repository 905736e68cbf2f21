/** The LMDB store, for Node only: its own entry point so that browsers never import `lmdb`. */
export { LmdbStore, type LmdbStoreOptions, LOCK_FILE } from './lmdb-store.js';
