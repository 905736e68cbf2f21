/**
 * Progress of the convergence suite on stderr: a bar redrawn in place on a terminal, plain lines
 * (with the seconds since start) otherwise, so logs and CI keep a readable record.
 */

/** Bar width in characters. */
const BAR_WIDTH = 24;

/** Progress over a known number of steps. */
export class SuiteProgress {
  readonly #total: number;
  readonly #tty: boolean;
  readonly #started = performance.now();
  #done = 0;
  #drawn = false;

  constructor(total: number, tty = process.stderr.isTTY === true) {
    this.#total = total;
    this.#tty = tty;
  }

  /** A step begins. */
  begin(label: string): void {
    this.#draw(`${label} …`);
  }

  /** A step ended, with a one-line outcome. */
  end(label: string, outcome: string): void {
    this.#done++;
    if (this.#tty) {
      this.#clear();
      process.stderr.write(`  ${label}: ${outcome}\n`);
      this.#draw('');
    } else {
      this.#line(`${label}: ${outcome}`);
    }
  }

  /** A note between steps. */
  note(message: string): void {
    if (this.#tty) {
      this.#clear();
      process.stderr.write(`${message}\n`);
    } else {
      this.#line(message);
    }
  }

  /** Removes the bar (at the end). */
  finish(): void {
    if (this.#tty) this.#clear();
  }

  #draw(label: string): void {
    if (!this.#tty) {
      if (label !== '') this.#line(`[${this.#done + 1}/${this.#total}] ${label}`);
      return;
    }
    const filled = Math.round((this.#done / Math.max(1, this.#total)) * BAR_WIDTH);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}`;
    const text = `${bar} ${this.#done}/${this.#total} ${this.#seconds()} s ${label}`;
    const width = process.stderr.columns ?? 100;
    process.stderr.write(`\r${text.slice(0, width - 1)}\x1b[K`);
    this.#drawn = true;
  }

  #clear(): void {
    if (this.#drawn) process.stderr.write('\r\x1b[K');
    this.#drawn = false;
  }

  #line(message: string): void {
    process.stderr.write(`${this.#seconds().padStart(5)} s  ${message}\n`);
  }

  #seconds(): string {
    return ((performance.now() - this.#started) / 1000).toFixed(0);
  }
}
