/**
 * The replica the yjs tests write through: a ReplicaState with explicit clocks, whose 'docs' keys
 * read back as the Yjs document a fresh client loads.
 */
import type { Op } from '@driftless/core';
import { type Intent, ReplicaState } from '@driftless/crdt';
import { expect } from 'vitest';
import type * as Y from 'yjs';
import { YjsClient } from './yjs-histories.js';

/** A replica that writes with explicit clocks. */
export class Replica {
  readonly state = new ReplicaState();
  #seq = 0;

  constructor(readonly id: string) {}

  /** Prepares and applies a write here, and returns its op for the other replicas. */
  write(key: string, intent: Intent, hlc: number): Op {
    const write = this.state.prepare('docs', key, intent);
    const op: Op = { origin: this.id, seq: ++this.#seq, hlc, ...write };
    this.state.apply(op);
    return op;
  }

  /** Writes the update of `change` made by `client`. */
  edit(key: string, client: YjsClient, change: (doc: Y.Doc) => void, hlc: number): Op {
    return this.write(key, { kind: 'yjs', update: client.edit(change) }, hlc);
  }

  receive(...ops: Op[]): void {
    for (const op of ops) this.state.apply(op);
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
