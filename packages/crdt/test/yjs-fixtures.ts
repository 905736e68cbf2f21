/**
 * The replica the yjs tests write through: a ReplicaState with explicit clocks, whose 'docs' keys
 * read back as the Yjs document a fresh client loads.
 */
import type { Op } from '@driftless/core';
import { expect } from 'vitest';
import type * as Y from 'yjs';
import { ExplicitReplica } from './explicit-replica.js';
import { YjsClient } from './yjs-histories.js';

/** A replica that writes with explicit clocks, and reads its keys as Yjs documents. */
export class Replica extends ExplicitReplica {
  /** Writes the update of `change` made by `client`. */
  edit(key: string, client: YjsClient, change: (doc: Y.Doc) => void, hlc: number): Op {
    return this.write(key, { kind: 'yjs', update: client.edit(change) }, hlc);
  }

  /** The key's value (a Yjs update), or undefined when it reads as absent. */
  value(key: string): Uint8Array | undefined {
    const read = this.state.get('docs', key);
    if (read === undefined) return undefined;
    expect(read.type).toBe('yjs');
    return read.value as Uint8Array;
  }

  /** The key's text 't' as a fresh Yjs client sees it. */
  text(key: string): string | undefined {
    const value = this.value(key);
    return value && new YjsClient(1).load(value).doc.getText('t').toString();
  }
}
