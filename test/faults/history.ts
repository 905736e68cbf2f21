/**
 * The history of a fault schedule, Jepsen style: every client operation with its invocation, its
 * completion and its result, and what each surviving node holds once the faults are healed. The
 * checker (checker.ts) judges a history; it never talks to a node.
 *
 * Outcomes: `ok` (the node answered success: a write is acknowledged, a read has a value or a
 * NOT_FOUND), `fail` (certainly not applied: a 4xx, or the connection was refused), `info`
 * (indeterminate: the connection broke or timed out, or a 5xx; the write may or may not exist).
 */

/** A version vector as plain data: the highest contiguous seq applied per origin. */
export type Vector = Readonly<Record<string, number>>;

/** An op's id: the node that wrote it and its seq there. */
export interface Dot {
  readonly origin: string;
  readonly seq: number;
}

/** What a client asked for. `put` sets a register, `del` deletes a key of any type. */
export type OpKind = 'read' | 'put' | 'patch' | 'del' | 'incr' | 'add' | 'remove';

/** ok: done; fail: certainly not done; info: unknown (see the module comment). */
export type Outcome = 'ok' | 'fail' | 'info';

/** When a write was acknowledged: durable locally, or on k peers too, or on all of them. */
export type AckMode = 'local' | 1 | 2 | 'all';

/** What a successful read returned. */
export interface ReadResult {
  readonly found: boolean;
  readonly type?: string;
  readonly value?: unknown;
}

/** One client operation, invoked and completed. */
export interface Operation {
  readonly index: number;
  /** The client (a sequential process); `final` for the reads after the heal. */
  readonly client: string;
  /** True when the client presents its last token (`after=`) on every read: a session. */
  readonly session: boolean;
  readonly node: string;
  readonly kind: OpKind;
  readonly collection: string;
  readonly key: string;
  /** put: the value; patch: the patch; incr: the amount; add/remove: the element. */
  readonly arg?: unknown;
  readonly ack?: AckMode;
  /** The token presented with `after=`, decoded. */
  readonly after?: Vector;
  readonly invokedMs: number;
  readonly completedMs: number;
  readonly outcome: Outcome;
  readonly status?: number;
  /** The error code answered, or the network error. */
  readonly error?: string;
  /** The answer's token, decoded: everything the node had applied when it answered. */
  readonly vector?: Vector;
  /** A write's id. */
  readonly dot?: Dot;
  /** Peers that confirmed the write durable. */
  readonly acked?: readonly string[];
  readonly ackTimedOut?: boolean;
  readonly read?: ReadResult;
}

/** What one node holds after the final heal: its status, and a read of every key used. */
export interface NodeObservation {
  readonly node: string;
  readonly digest: string;
  readonly vector: Vector;
  /** Reads (kind `read`, client `final`) of every key the workload touched. */
  readonly reads: readonly Operation[];
}

/** The end of a schedule (or of one of its phases): the nodes still alive, and those destroyed. */
export interface FinalObservation {
  readonly label: string;
  readonly survivors: readonly NodeObservation[];
  /** Nodes whose data was destroyed: writes only they held may be lost. */
  readonly dead: readonly string[];
  /** Operations with an index below this were invoked before the observation: it judges only them. */
  readonly before: number;
}

/** True when `vector` includes the op `dot`. */
export function includes(vector: Vector | undefined, dot: Dot | undefined): boolean {
  return vector !== undefined && dot !== undefined && (vector[dot.origin] ?? 0) >= dot.seq;
}

/** True when `a` includes everything in `b`. */
export function dominates(a: Vector, b: Vector): boolean {
  return Object.entries(b).every(([origin, seq]) => (a[origin] ?? 0) >= seq);
}

/** `a` and `b` hold the same seqs. */
export function sameVector(a: Vector, b: Vector): boolean {
  return dominates(a, b) && dominates(b, a);
}

/** An operation before it completes. */
export type Invocation = Omit<Operation, 'index' | 'completedMs' | 'outcome'>;

/** What completes an invocation. */
export type Completion = Pick<Operation, 'outcome'> &
  Partial<Pick<Operation, 'status' | 'error' | 'vector' | 'dot' | 'acked' | 'ackTimedOut' | 'read'>>;

/** Records operations as they complete, in completion order; indices follow invocation order. */
export class History {
  readonly #operations: Operation[] = [];
  #next = 0;
  readonly #startMs = performance.now();

  /** How many operations were invoked so far (the next one's index). */
  get invoked(): number {
    return this.#next;
  }

  /** Milliseconds since the history began. */
  now(): number {
    return performance.now() - this.#startMs;
  }

  /** Starts an operation; call the returned function once with its completion. */
  invoke(invocation: Omit<Invocation, 'invokedMs'>): (completion: Completion) => Operation {
    const index = this.#next++;
    const invokedMs = this.now();
    return (completion) => {
      const operation: Operation = {
        ...invocation,
        invokedMs,
        index,
        completedMs: this.now(),
        ...completion,
      };
      this.#operations.push(operation);
      return operation;
    };
  }

  /** Every completed operation, by index. */
  operations(): Operation[] {
    return [...this.#operations].sort((a, b) => a.index - b.index);
  }
}
