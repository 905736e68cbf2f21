/**
 * What one read may show, judged against every write of the history. A read's token is the exact
 * set of ops its node had applied when it answered (the read and its token are taken together),
 * so its value must be what those ops make:
 *
 * - a register shows a value some put wrote, never one that a write in the token had certainly
 *   seen (`after=` included it) and so overwrote; it is absent only if a delete may explain it;
 * - a document field shows a value some patch wrote;
 * - a counter is the sum of the acknowledged increments in the token plus some of the
 *   indeterminate ones, exactly;
 * - a set holds every acknowledged add in the token that no remove or delete (in the token, and
 *   having seen the add) took out, and nothing no client added.
 *
 * "Certainly" rules condemn only on lower bounds (the `after=` a write was made with), "may
 * explain" rules excuse on upper bounds (a write's answer token, any indeterminate write), so a
 * race inside a node never becomes a false alarm. A violation is named by whom it wrongs: after
 * the final heal a missing write is lost; a session that presented a token including it had its
 * read-your-writes (its own write) or monotonic reads (another's) broken; anyone else saw an
 * inconsistent read.
 */
import { dominates, includes, type Operation } from './history.js';
import { keyOf, subsetSums, valueId, type WriteIndex } from './write-index.js';

/** The kinds of violation the checker reports. */
export const VIOLATION_KINDS = [
  'lost-write',
  'lost-ack-k-write',
  'phantom-value',
  'diverged',
  'read-your-writes',
  'monotonic-read',
  'inconsistent-read',
  'causal-order',
  'reused-dot',
  // Not from the history: a node logged an error (fault-cluster.ts errorsLogged).
  'node-error',
] as const;

/** A kind of violation. */
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

/** One thing the history shows the system got wrong. */
export interface Violation {
  readonly kind: ViolationKind;
  readonly message: string;
  /** Indices of the operations involved. */
  readonly operations: readonly number[];
}

/** Where a read is judged: during the run, or after the final heal (nodes in `dead` destroyed). */
export interface ReadContext {
  readonly writes: WriteIndex;
  readonly final: boolean;
  readonly dead: ReadonlySet<string>;
}

/** Every violation `read` shows. */
export function checkRead(read: Operation, context: ReadContext): Violation[] {
  const vector = read.vector;
  if (read.kind !== 'read' || read.outcome !== 'ok' || read.read === undefined || vector === undefined)
    return [];
  const violations: Violation[] = [];
  if (read.after !== undefined && !dominates(vector, read.after)) {
    const own = (context.writes.byClient.get(read.client) ?? []).some(
      (write) => includes(read.after, write.dot) && !includes(vector, write.dot),
    );
    violations.push({
      kind: own ? 'read-your-writes' : 'monotonic-read',
      message: `${describe(read)} answered a token older than the one it presented`,
      operations: [read.index],
    });
  }
  const writes = context.writes.writesOn(read);
  const type = read.read.found ? read.read.type : typeOfWrites(writes);
  if (type === 'register') violations.push(...checkRegister(read, context));
  else if (type === 'document') violations.push(...checkDocument(read, context));
  else if (type === 'counter') violations.push(...checkCounter(read, context));
  else if (type === 'set') violations.push(...checkSet(read, context));
  else if (read.read.found) violations.push(phantom(read, `a ${type} no client wrote`));
  return violations;
}

function checkRegister(read: Operation, context: ReadContext): Violation[] {
  const { writes } = context;
  const vector = read.vector;
  if (!read.read?.found) {
    const deletes = writes.writesOn(read, 'del');
    const unexplained = writes
      .writesOn(read, 'put')
      .find(
        (put) =>
          put.outcome === 'ok' &&
          includes(vector, put.dot) &&
          !deletes.some((del) => del.outcome === 'info' || includes(vector, del.dot)),
      );
    return unexplained
      ? [missing(read, unexplained, 'its value, with no delete that could explain it', context)]
      : [];
  }
  const put = writes.putOf(read, read.read.value);
  if (put === undefined || later(put, read, context))
    return [phantom(read, `value ${valueId(read.read.value)}`)];
  if (put.outcome === 'ok' && !includes(vector, put.dot)) return [ahead(read, put)];
  const newer = writes
    .writesOn(read, 'put', 'del')
    .find(
      (write) =>
        write !== put &&
        write.outcome === 'ok' &&
        put.dot !== undefined &&
        includes(vector, write.dot) &&
        includes(write.after, put.dot),
    );
  return newer ? [missing(read, newer, `it, showing #${put.index} which it had overwritten`, context)] : [];
}

function checkDocument(read: Operation, context: ReadContext): Violation[] {
  const { writes } = context;
  if (!read.read?.found) return [];
  const violations: Violation[] = [];
  for (const [field, value] of Object.entries((read.read.value ?? {}) as Record<string, unknown>)) {
    const patch = writes.patchOf(read, field, value);
    if (patch === undefined || later(patch, read, context))
      violations.push(phantom(read, `field ${field} = ${valueId(value)}`));
    else if (patch.outcome === 'ok' && !includes(read.vector, patch.dot)) violations.push(ahead(read, patch));
  }
  return violations;
}

function checkCounter(read: Operation, context: ReadContext): Violation[] {
  const { writes, final } = context;
  const value = read.read?.found ? (read.read.value as number) : 0;
  const increments = writes.writesOn(read, 'incr');
  const acked = increments.filter((incr) => incr.outcome === 'ok' && includes(read.vector, incr.dot));
  const known = acked.reduce((sum, incr) => sum + (incr.arg as number), 0);
  const maybe = increments
    .filter((incr) => incr.outcome === 'info' && (final || incr.invokedMs < read.completedMs))
    .map((incr) => incr.arg as number);
  const sums = subsetSums(maybe);
  if (sums.has(value - known)) return [];
  const detail = `counter ${value}: its token's acknowledged increments sum to ${known}, and no subset of the ${maybe.length} indeterminate ones makes up the rest`;
  if (value - known < Math.min(...sums)) {
    const own = acked.filter((incr) => read.session && includes(read.after, incr.dot));
    const wronged = own.find((incr) => incr.client === read.client) ?? own[0] ?? acked[0];
    if (wronged !== undefined)
      return [{ ...missing(read, wronged, 'increments', context), message: `${describe(read)}: ${detail}` }];
  }
  return [phantom(read, detail)];
}

function checkSet(read: Operation, context: ReadContext): Violation[] {
  const { writes } = context;
  const vector = read.vector;
  const present = read.read?.found ? (read.read.value as unknown[]) : [];
  const shown = new Set(present.map(valueId));
  const violations: Violation[] = [];
  for (const element of present) {
    const add = writes.addOf(read, element);
    if (add === undefined || later(add, read, context))
      violations.push(phantom(read, `element ${valueId(element)}`));
    else if (add.outcome === 'ok' && !includes(vector, add.dot)) violations.push(ahead(read, add));
  }
  const takers = writes.writesOn(read, 'remove', 'del');
  for (const add of writes.writesOn(read, 'add')) {
    if (add.outcome !== 'ok' || !includes(vector, add.dot) || shown.has(valueId(add.arg))) continue;
    const taken = takers.some(
      (taker) =>
        (taker.kind === 'del' || valueId(taker.arg) === valueId(add.arg)) &&
        (taker.outcome === 'info' || (includes(vector, taker.dot) && includes(taker.vector, add.dot))),
    );
    if (!taken)
      violations.push(
        missing(read, add, `element ${valueId(add.arg)}, with no remove that had seen it`, context),
      );
  }
  return violations;
}

/** A write invoked only after the read completed (final reads have their own clock: never). */
function later(write: Operation, read: Operation, context: ReadContext): boolean {
  return !context.final && write.invokedMs > read.completedMs;
}

/** The type the writes of a key make (the workload writes one type per collection). */
function typeOfWrites(writes: readonly Operation[]): string | undefined {
  const kinds = new Set(writes.map((write) => write.kind));
  if (kinds.has('put')) return 'register';
  if (kinds.has('patch')) return 'document';
  if (kinds.has('incr')) return 'counter';
  if (kinds.has('add') || kinds.has('remove')) return 'set';
  return undefined;
}

/** A read that lacks `write` although its token includes it: named by whom it wrongs. */
function missing(read: Operation, write: Operation, what: string, context: ReadContext): Violation {
  const kind: ViolationKind = context.final
    ? write.dot !== undefined && context.dead.has(write.dot.origin)
      ? 'lost-ack-k-write'
      : 'lost-write'
    : read.session && includes(read.after, write.dot)
      ? write.client === read.client
        ? 'read-your-writes'
        : 'monotonic-read'
      : 'inconsistent-read';
  return {
    kind,
    message: `${describe(read)} lacks ${describe(write)}: ${what}`,
    operations: [read.index, write.index],
  };
}

function phantom(read: Operation, what: string): Violation {
  return { kind: 'phantom-value', message: `${describe(read)} shows ${what}`, operations: [read.index] };
}

function ahead(read: Operation, write: Operation): Violation {
  return {
    kind: 'inconsistent-read',
    message: `${describe(read)} shows ${describe(write)}, which its token does not include`,
    operations: [read.index, write.index],
  };
}

/** One line naming an operation, for messages. */
export function describe(op: Operation): string {
  const dot = op.dot ? ` ${op.dot.origin}:${op.dot.seq}` : '';
  const arg = op.arg === undefined ? '' : ` ${valueId(op.arg)}`;
  return `#${op.index} ${op.client}@${op.node} ${op.kind} ${keyOf(op)}${arg}${dot} (${op.outcome})`;
}
