import { createHash } from 'node:crypto';
import { VersionVector } from '@driftless/core';
import { encodeMessage } from '../src/index.js';
import { below, mutateFrame, type Random, type Shot } from './frame-mutations.js';
import type { LinkState, OpWriter } from './peer-ops.js';

/**
 * STATE_BEGIN / STATE_CHUNK / STATE_END sequences for the fuzzer's peer: whole states the node
 * must install (a compacted delta or a snapshot of its own state plus a few new ops), and broken
 * ones. A transfer broken off mid-way is remembered, and a later connection resumes it from the
 * offset the node keeps.
 */
export class StateTransferWriter {
  readonly #random: Random;
  readonly #writer: OpWriter;
  readonly #nonce: () => Uint8Array;
  /** A state whose transfer was broken off, to resume on a later connection. */
  #interrupted: { bytes: Uint8Array; kind: 'delta' | 'snapshot' } | undefined;

  constructor(random: Random, writer: OpWriter, nonce: () => Uint8Array) {
    this.#random = random;
    this.#writer = writer;
    this.#nonce = nonce;
  }

  /**
   * A state transfer, whole or broken: a valid compacted delta or snapshot of new ops, garbage
   * with the right hash, a wrong hash, chunks out of turn or past the announced size, an early
   * end, an OPS frame inside the transfer, or half a transfer (the rest comes on a later connection, which must resume it).
   * `underway` is what the node holds of this peer's last transfer.
   */
  transfer(
    link: LinkState,
    underway: { totalBytes: number; received: number } | undefined,
  ): { shots: Shot[]; broken: boolean } {
    const random = this.#random;
    const id = 1 + below(random, 2 ** 32 - 1);
    const resuming = this.#interrupted;
    if (resuming !== undefined && underway?.totalBytes === resuming.bytes.length && random() < 0.7) {
      // The rest of the state the last connection broke off, from where the node says it stopped.
      const shots = [
        this.#begin(id, resuming.bytes, resuming.kind),
        ...this.#chunks(id, resuming.bytes, underway.received),
        { bytes: encodeMessage({ type: 'state-end', id }), kind: 'state: resumed end' },
      ];
      return { shots, broken: false };
    }
    const kind = random() < 0.8 ? 'delta' : 'snapshot';
    let bytes = this.#writer.mirrorState(link, kind);
    const variant = below(random, 11);
    if (variant === 0) bytes = Uint8Array.from({ length: 1 + below(random, 300) }, () => below(random, 256));
    if (variant === 1) bytes = mutateFrame(random, bytes, bytes).bytes;
    if (bytes.length === 0) bytes = Uint8Array.of(0xc1);
    const name =
      [
        'garbage',
        'mutated',
        'wrong hash',
        'chunk out of turn',
        'chunk past size',
        'early end',
        'half',
        'ops inside',
      ][variant] ?? kind;
    const begin = this.#begin(id, bytes, kind, variant === 2 ? this.#nonce() : undefined);
    const chunks = this.#chunks(id, bytes, 0);
    const end: Shot = {
      bytes: encodeMessage({ type: 'state-end', id: variant === 5 && random() < 0.5 ? id + 1 : id }),
      kind: `state: ${name} end`,
    };
    switch (variant) {
      case 3: {
        const offset = below(random, bytes.length + 5);
        const chunk = encodeMessage({
          type: 'state-chunk',
          id: random() < 0.8 ? id : id + 1,
          offset,
          bytes: Uint8Array.of(1),
        });
        chunks.splice(below(random, chunks.length + 1), 1, {
          bytes: chunk,
          kind: 'state: chunk out of turn',
        });
        break;
      }
      case 4:
        chunks.push({
          bytes: encodeMessage({ type: 'state-chunk', id, offset: bytes.length, bytes: Uint8Array.of(1, 2) }),
          kind: 'state: chunk past size',
        });
        break;
      case 5:
        chunks.splice(below(random, chunks.length));
        break;
      case 6:
        // Half a transfer: the batch's last frame breaks the session, a later connection resumes.
        this.#interrupted = { bytes, kind };
        return {
          shots: [
            begin,
            ...chunks.slice(0, 1 + below(random, chunks.length)),
            { bytes: Uint8Array.of(0xff), kind: 'state: half, then junk' },
          ],
          broken: true,
        };
      case 7: {
        // An OPS frame before STATE_END, as if it overtook the state: the session must close.
        const ops = encodeMessage({
          type: 'ops',
          number: link.nextFrameNumber,
          ops: this.#writer.ops(link, 1),
        });
        chunks.splice(below(random, chunks.length + 1), 0, { bytes: ops, kind: 'state: ops inside' });
        break;
      }
    }
    return { shots: [begin, ...chunks, end], broken: variant < 8 };
  }

  #begin(id: number, bytes: Uint8Array, kind: 'delta' | 'snapshot', hash?: Uint8Array): Shot {
    const sha256 = hash ?? new Uint8Array(createHash('sha256').update(bytes).digest());
    const message = {
      type: 'state-begin',
      id,
      kind,
      totalBytes: bytes.length,
      sha256,
      vector: VersionVector.EMPTY,
    } as const;
    return { bytes: encodeMessage(message), kind: `state: ${kind} begin` };
  }

  #chunks(id: number, bytes: Uint8Array, from: number): Shot[] {
    const shots: Shot[] = [];
    const size = 1 + below(this.#random, Math.max(1, bytes.length));
    for (let offset = from; offset < bytes.length; offset += size) {
      const chunk = bytes.subarray(offset, offset + size);
      shots.push({
        bytes: encodeMessage({ type: 'state-chunk', id, offset, bytes: chunk }),
        kind: 'state: chunk',
      });
    }
    return shots;
  }
}
