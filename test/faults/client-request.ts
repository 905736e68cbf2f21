/**
 * One client operation over HTTP, recorded in the history: the request the API (docs/API.md)
 * takes for each kind, and how each answer becomes an outcome. A request that could not connect
 * failed for certain; one that broke or timed out after connecting is indeterminate, like a 5xx.
 */
import { decodeToken } from '@driftless/node';
import type { Completion, History, Operation, OpKind, Vector } from './history.js';

/** What a client asks a node to do: the operation as the history records it, with its token as sent. */
export interface ClientRequest
  extends Pick<Operation, 'client' | 'session' | 'node' | 'kind' | 'collection' | 'key' | 'arg' | 'ack'> {
  /** The token to present (`after=`). */
  readonly token?: string;
}

/** The route and body of each kind. */
function requestOf(request: ClientRequest): { method: string; suffix: string; body?: unknown } {
  switch (request.kind) {
    case 'read':
      return { method: 'GET', suffix: '' };
    case 'put':
      return { method: 'PUT', suffix: '', body: request.arg };
    case 'patch':
      return { method: 'PATCH', suffix: '', body: request.arg };
    case 'del':
      return { method: 'DELETE', suffix: '' };
    case 'incr':
      return { method: 'POST', suffix: '/incr', body: { by: request.arg } };
    case 'add':
      return { method: 'POST', suffix: '/add', body: { element: request.arg } };
    case 'remove':
      return { method: 'POST', suffix: '/remove', body: { element: request.arg } };
  }
}

/** Sends `request` to `url`, records it in `history`, and returns it with the answer's token. */
export async function perform(
  history: History,
  url: string,
  request: ClientRequest,
  timeoutMs: number,
): Promise<{ operation: Operation; token: string | undefined }> {
  const { method, suffix, body } = requestOf(request);
  const query = new URLSearchParams();
  if (request.token !== undefined) query.set('after', request.token);
  if (request.ack !== undefined && request.kind !== 'read') query.set('ack', String(request.ack));
  const { token: presented, ...invocation } = request;
  const complete = history.invoke({
    ...invocation,
    ...(presented !== undefined ? { after: vectorOf(presented) } : {}),
  });
  const path = `/v1/c/${request.collection}/${encodeURIComponent(request.key)}${suffix}?${query}`;
  let status: number;
  // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field.
  let answer: any;
  try {
    const response = await fetch(`${url}${path}`, {
      method,
      signal: AbortSignal.timeout(timeoutMs),
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    status = response.status;
    const text = await response.text();
    answer = text === '' ? {} : JSON.parse(text);
  } catch (error) {
    const code = networkCode(error);
    const outcome = code === 'ECONNREFUSED' ? 'fail' : 'info';
    return { operation: complete({ outcome, error: code }), token: undefined };
  }
  const token = typeof answer.token === 'string' ? answer.token : undefined;
  return { operation: complete(completionOf(request.kind, status, answer)), token };
}

function completionOf(kind: OpKind, status: number, answer: Record<string, unknown>): Completion {
  const vector = typeof answer.token === 'string' ? { vector: vectorOf(answer.token) } : {};
  const code = (answer.error as { code?: string } | undefined)?.code;
  if (kind === 'read') {
    if (status === 200)
      return {
        outcome: 'ok',
        status,
        ...vector,
        read: { found: true, type: answer.type as string, value: answer.value },
      };
    if (status === 404 && code === 'NOT_FOUND')
      return { outcome: 'ok', status, ...vector, read: { found: false } };
    return { outcome: 'fail', status, ...(code ? { error: code } : {}) };
  }
  if (status === 200 || status === 202) {
    const op = answer.op as { origin: string; seq: number };
    return {
      outcome: 'ok',
      status,
      ...vector,
      dot: { origin: op.origin, seq: op.seq },
      acked: answer.acked as string[],
      ...(answer.ackTimedOut === true ? { ackTimedOut: true } : {}),
    };
  }
  // A refused write stores nothing (any 4xx; READ_TIMEOUT: its `after=` was never reached).
  const refused = status < 500 || code === 'READ_TIMEOUT';
  return { outcome: refused ? 'fail' : 'info', status, ...(code ? { error: code } : {}) };
}

/** A token's vector as plain data. */
export function vectorOf(token: string): Vector {
  return decodeToken(token).toJSON();
}

function networkCode(error: unknown): string {
  const cause = (error as { cause?: { code?: string } } | null)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  return error instanceof Error ? error.name : String(error);
}
