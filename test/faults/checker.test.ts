/**
 * The checker on hand-made histories: a clean one passes, and each violation it exists to find is
 * found, so a green fault schedule means something.
 */
import { describe, expect, it } from 'vitest';
import { checkHistory } from './checker.js';
import type { FinalObservation, NodeObservation, Operation, Vector } from './history.js';

let next = 0;
/** An operation with defaults: an ok op by a non-session client on node a. */
function op(fields: Partial<Operation> & Pick<Operation, 'kind' | 'collection' | 'key'>): Operation {
  return {
    index: next++,
    client: 'c1',
    session: false,
    node: 'a',
    invokedMs: next,
    completedMs: next,
    outcome: 'ok',
    ...fields,
  };
}

function write(
  kind: Operation['kind'],
  collection: string,
  key: string,
  arg: unknown,
  origin: string,
  seq: number,
  more: Partial<Operation> = {},
): Operation {
  return op({
    kind,
    collection,
    key,
    arg,
    node: origin,
    dot: { origin, seq },
    vector: { [origin]: seq },
    ...more,
  });
}

function read(
  collection: string,
  key: string,
  value: unknown,
  vector: Vector,
  more: Partial<Operation> = {},
): Operation {
  const type = { sets: 'set', counters: 'counter', registers: 'register', docs: 'document' }[
    collection
  ] as string;
  return op({
    kind: 'read',
    collection,
    key,
    vector,
    read: value === undefined ? { found: false } : { found: true, type, value },
    ...more,
  });
}

function node(id: string, vector: Vector, reads: Operation[], digest = 'd1'): NodeObservation {
  return { node: id, digest, vector, reads: reads.map((r) => ({ ...r, client: 'final', node: id })) };
}

function final(survivors: NodeObservation[], dead: string[] = []): FinalObservation {
  return { label: 'final', survivors, dead, before: Number.POSITIVE_INFINITY };
}

function kinds(history: Operation[], observations: FinalObservation[]): string[] {
  return [...new Set(checkHistory(history, observations).map((violation) => violation.kind))].sort();
}

describe('the checker', () => {
  it('passes a history where everything acknowledged is there', () => {
    const add = write('add', 'sets', 's', 'x', 'a', 1);
    const incr = write('incr', 'counters', 'c', 2, 'b', 1);
    const lost = op({ kind: 'incr', collection: 'counters', key: 'c', arg: 5, node: 'b', outcome: 'info' });
    const put = write('put', 'registers', 'r', { w: 'v1' }, 'a', 2);
    const all = { a: 2, b: 1 };
    const reads = [
      read('sets', 's', ['x'], all),
      read('counters', 'c', 2, all),
      read('registers', 'r', { w: 'v1' }, all),
    ];
    const history = [add, incr, lost, put, read('counters', 'c', 7, all)];
    expect(checkHistory(history, [final([node('a', all, reads), node('b', all, reads)])])).toEqual([]);
  });

  it('finds an acknowledged set add lost after the heal', () => {
    const add = write('add', 'sets', 's', 'x', 'a', 1);
    const reads = [read('sets', 's', [], { a: 1 })];
    expect(kinds([add], [final([node('a', { a: 1 }, reads)])])).toEqual(['lost-write']);
    // Its op itself missing from a survivor's vector is a loss too.
    expect(kinds([add], [final([node('a', { a: 1 }, []), node('b', {}, [])])])).toContain('lost-write');
  });

  it('excuses an add taken out by a remove that had seen it, or by an indeterminate one, but no other', () => {
    const add = write('add', 'sets', 's', 'x', 'a', 1);
    const sawIt = write('remove', 'sets', 's', 'x', 'b', 1, { vector: { a: 1, b: 1 } });
    const blind = write('remove', 'sets', 's', 'x', 'b', 1, { vector: { b: 1 } });
    const unknown = op({ kind: 'remove', collection: 'sets', key: 's', arg: 'x', outcome: 'info' });
    const after = [node('a', { a: 1, b: 1 }, [read('sets', 's', [], { a: 1, b: 1 })])];
    expect(kinds([add, sawIt], [final(after)])).toEqual([]);
    expect(kinds([add, unknown], [final(after)])).toEqual([]);
    expect(kinds([add, blind], [final(after)])).toEqual(['lost-write']);
  });

  it('checks a counter against its acknowledged increments plus a subset of the indeterminate ones', () => {
    const history = [
      write('incr', 'counters', 'c', 3, 'a', 1),
      write('incr', 'counters', 'c', 4, 'a', 2),
      op({ kind: 'incr', collection: 'counters', key: 'c', arg: 10, outcome: 'info' }),
    ];
    const at = (value: number) => [final([node('a', { a: 2 }, [read('counters', 'c', value, { a: 2 })])])];
    expect(kinds(history, at(7))).toEqual([]);
    expect(kinds(history, at(17))).toEqual([]);
    expect(kinds(history, at(3))).toEqual(['lost-write']);
    expect(kinds(history, at(12))).toEqual(['phantom-value']);
    expect(kinds(history, at(40))).toEqual(['phantom-value']);
  });

  it('finds values no client wrote', () => {
    const put = write('put', 'registers', 'r', { w: 'v1' }, 'a', 1);
    const failed = op({ kind: 'put', collection: 'registers', key: 'r', arg: { w: 'v2' }, outcome: 'fail' });
    const patch = write('patch', 'docs', 'd', { f0: 'p1' }, 'a', 3);
    const v = { a: 3 };
    const history = [put, failed, patch];
    expect(kinds([...history, read('registers', 'r', { w: 'v9' }, v)], [])).toEqual(['phantom-value']);
    expect(kinds([...history, read('registers', 'r', { w: 'v2' }, v)], [])).toEqual(['phantom-value']);
    expect(kinds([...history, read('docs', 'd', { f0: 'p1', f1: 'zz' }, v)], [])).toEqual(['phantom-value']);
    expect(kinds([...history, read('sets', 's', ['never'], v)], [])).toEqual(['phantom-value']);
    // A value shown before anyone wrote it (its token names a:1 before the write got it, too).
    const early = read('registers', 'r', { w: 'v1' }, v, { completedMs: put.invokedMs - 1 });
    expect(kinds([...history, early], [])).toEqual(['phantom-value', 'reused-dot']);
    expect(
      kinds([...history, read('registers', 'r', { w: 'v1' }, v), read('docs', 'd', { f0: 'p1' }, v)], []),
    ).toEqual([]);
  });

  it('finds replicas that diverge after the heal', () => {
    const add = write('add', 'sets', 's', 'x', 'a', 1);
    const same = [read('sets', 's', ['x'], { a: 1 })];
    expect(kinds([add], [final([node('a', { a: 1 }, same), node('b', { a: 1 }, same, 'other')])])).toEqual([
      'diverged',
    ]);
    const otherValue = [read('sets', 's', ['x', 'y'], { a: 1 })];
    expect(kinds([add], [final([node('a', { a: 1 }, same), node('b', { a: 1 }, otherValue)])])).toContain(
      'diverged',
    );
  });

  it('finds a session that does not read its own write', () => {
    const old = write('put', 'registers', 'r', { w: 'old' }, 'b', 1);
    const mine = write('put', 'registers', 'r', { w: 'mine' }, 'a', 1, {
      client: 's1',
      session: true,
      after: { b: 1 },
    });
    const stale = read(
      'registers',
      'r',
      { w: 'old' },
      { a: 1, b: 1 },
      { client: 's1', session: true, after: { a: 1, b: 1 } },
    );
    expect(kinds([old, mine, stale], [])).toEqual(['read-your-writes']);
    // The same read by a client that presented no token is merely inconsistent.
    const { after: _presented, ...plain } = stale;
    expect(kinds([old, mine, { ...plain, session: false }], [])).toEqual(['inconsistent-read']);
    // A node answering a token older than the one presented breaks the session too.
    const add = write('add', 'sets', 's', 'x', 'a', 2, { client: 's1', session: true });
    const early = read('sets', 's', [], { a: 1 }, { client: 's1', session: true, after: { a: 2 } });
    expect(kinds([add, early], [])).toEqual(['read-your-writes']);
  });

  it('finds a session that reads older data than it saw', () => {
    const add = write('add', 'sets', 's', 'x', 'b', 1, { client: 'other' });
    const saw = read('sets', 's', ['x'], { b: 1 }, { client: 's1', session: true });
    const later = read('sets', 's', [], { b: 1, c: 4 }, { client: 's1', session: true, after: { b: 1 } });
    expect(kinds([add, saw, later], [])).toEqual(['monotonic-read']);
    const behind = read('sets', 's', ['x'], { b: 1 }, { client: 's1', session: true, after: { b: 1, c: 4 } });
    expect(kinds([add, saw, behind], [])).toEqual(['monotonic-read']);
  });

  it('finds a read that shows a write its token lacks', () => {
    const add = write('add', 'sets', 's', 'x', 'b', 3);
    expect(kinds([add, read('sets', 's', ['x'], { b: 2 })], [])).toEqual(['inconsistent-read']);
  });

  it('finds an ack=k write lost after its node and k-1 others are destroyed', () => {
    const acked = write('add', 'sets', 's', 'x', 'a', 1, { ack: 2, acked: ['b', 'c'] });
    const survivors = [
      node('c', {}, [read('sets', 's', [], {})]),
      node('d', {}, [read('sets', 's', [], {})]),
    ];
    expect(kinds([acked], [final(survivors, ['a', 'b'])])).toEqual(['lost-ack-k-write']);
    // With every holder destroyed, losing it breaks no promise.
    const local = write('add', 'sets', 's', 'y', 'a', 2, { ack: 'local', acked: [] });
    expect(kinds([local], [final(survivors, ['a', 'b'])])).toEqual([]);
  });
});

describe('the causal delivery check', () => {
  it('finds a read whose token holds a write but not what its writer had applied first', () => {
    const first = write('add', 'sets', 's', 'x', 'a', 1);
    const second = write('add', 'sets', 's', 'y', 'b', 1, { after: { a: 1 }, vector: { a: 1, b: 1 } });
    const torn = read('sets', 's', ['y'], { b: 1 });
    expect(kinds([first, second, torn], [])).toEqual(['causal-order']);
    expect(kinds([first, second, read('sets', 's', ['x', 'y'], { a: 1, b: 1 })], [])).toEqual([]);
  });
});

describe('the reused dot check', () => {
  it('finds one dot acknowledged for two writes', () => {
    const first = write('put', 'registers', 'r', { w: 'v1' }, 'a', 1);
    const again = write('put', 'registers', 'r', { w: 'v2' }, 'a', 1);
    expect(kinds([first, again], [])).toEqual(['reused-dot']);
    expect(kinds([first, write('put', 'registers', 'r', { w: 'v2' }, 'a', 2)], [])).toEqual([]);
  });

  it('finds a token that named a dot before the write that got it was sent', () => {
    // A read answered with a:1 in its token; a:1 then went to a write sent only afterwards.
    const early = read('registers', 'r', undefined, { a: 1 }, { invokedMs: 1, completedMs: 2 });
    const put = write('put', 'registers', 'r', { w: 'v1' }, 'a', 1, { invokedMs: 3, completedMs: 4 });
    expect(kinds([early, put], [])).toEqual(['reused-dot']);
    // Sent before the read answered: the token may hold it.
    const during = write('put', 'registers', 'r', { w: 'v1' }, 'a', 1, { invokedMs: 1.5, completedMs: 4 });
    const read2 = read('registers', 'r', { w: 'v1' }, { a: 1 }, { invokedMs: 1, completedMs: 2 });
    expect(kinds([read2, during], [])).toEqual([]);
  });
});
