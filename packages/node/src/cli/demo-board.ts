/**
 * The demo's live table: per node, the write rate, ops written and applied, the worst peer lag
 * (ops and log bytes not yet durable at the peer, and seconds), conflicts and the state digest. On a terminal it is redrawn in place; in a
 * pipe or a log it is printed as a block of plain lines at most once a second, and once at the end.
 */
import type { CliHost } from './program.js';
import { conflictRows, formatBytes, type StatusView, table } from './status-format.js';

/** One node's row, as the demo samples it. */
export interface Row {
  /** The node id. */
  readonly id: string;
  status: StatusView | undefined;
  written: number;
  rate: number;
  at: number;
}

/** The live table: redrawn in place on a terminal, a block of plain lines per tick otherwise. */
export class Board {
  readonly #host: CliHost;
  #drawnLines = 0;
  #lastPlain = 0;

  constructor(host: CliHost) {
    this.#host = host;
  }

  draw(rows: readonly Row[], elapsedMs: number, writersDone: boolean, final: boolean): void {
    const lines = table(
      ['NODE', 'WRITES/S', 'WRITTEN', 'APPLIED', 'LAG OPS', 'LAG BYTES', 'LAG S', 'CONFLICTS', 'DIGEST'],
      rows.map((row) => {
        const peers = row.status?.peers ?? [];
        const lagOps = Math.max(0, ...peers.map((p) => p.opsNotDurable ?? 0));
        const lagBytes = Math.max(0, ...peers.map((p) => p.bytesNotDurable ?? 0));
        const lagSeconds = Math.max(0, ...peers.map((p) => (p.lagMs ?? 0) / 1000));
        return [
          row.id,
          String(Math.round(row.rate)),
          String(row.written),
          String(row.status?.ops?.applied ?? 0),
          String(lagOps),
          formatBytes(lagBytes),
          lagSeconds.toFixed(1),
          String(row.status ? conflictRows(row.status.conflicts).reduce((sum, r) => sum + r.count, 0) : 0),
          row.status?.digest.slice(0, 16) ?? '-',
        ];
      }),
      [1, 2, 3, 4, 5, 6, 7],
    );
    const title = `${seconds(elapsedMs)}  ${final ? 'converged' : writersDone ? 'writers done, waiting for every digest to match' : 'writing…'}`;
    if (this.#host.isTTY) {
      const up = this.#drawnLines > 0 ? `\x1b[${this.#drawnLines}A` : '';
      this.#host.out(up + [title, ...lines].map((line) => `\x1b[2K${line}`).join('\n'));
      this.#drawnLines = lines.length + 1;
    } else if (elapsedMs - this.#lastPlain >= 1000 || final) {
      this.#lastPlain = elapsedMs;
      this.#host.out([`-- ${title}`, ...lines].join('\n'));
    }
  }

  finish(): void {
    this.#drawnLines = 0;
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
