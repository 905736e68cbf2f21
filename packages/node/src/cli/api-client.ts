/**
 * The CLI's side of a node's HTTP API: one request, its JSON answer, and every failure turned
 * into a one-line CommandError (the node's `{ error: { code, message } }`, an unreachable node,
 * a timeout).
 */
import { CommandError, UsageError } from './usage-error.js';

/** How long a CLI request may take before it is given up. */
export const REQUEST_TIMEOUT_MS = 30_000;

/** A request to a node's HTTP API. */
export interface ApiRequest {
  readonly method: 'GET' | 'PUT' | 'PATCH' | 'DELETE' | 'POST';
  /** The path after the node's base URL, with its query string. */
  readonly path: string;
  readonly body?: unknown;
  /** The `Authorization: Bearer` secret. */
  readonly secret?: string;
  readonly timeoutMs?: number;
}

/** Normalises a node URL given on the command line (`host:port` alone means http://host:port). */
export function nodeBaseUrl(value: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`invalid node URL ${JSON.stringify(value)}: use http://host:port`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(
      `invalid node URL ${JSON.stringify(value)}: use the node's http:// URL (it prints it on start)`,
    );
  }
  return url.origin + url.pathname.replace(/\/+$/, '');
}

/** Sends one request and returns the parsed JSON answer; throws CommandError on any failure. */
export async function callApi(baseUrl: string, request: ApiRequest): Promise<unknown> {
  const url = `${baseUrl}${request.path}`;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (request.body !== undefined) headers['content-type'] = 'application/json';
  if (request.secret !== undefined) headers.authorization = `Bearer ${request.secret}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method: request.method,
      headers,
      ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
      signal: AbortSignal.timeout(request.timeoutMs ?? REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    throw new CommandError(`cannot reach ${baseUrl}: ${networkReason(error)}`);
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    throw new CommandError(
      `${request.method} ${url} answered ${response.status} with something that is not JSON: is this a Driftless node?`,
    );
  }
  if (!response.ok) {
    const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    if (error && typeof error.message === 'string') {
      const code = typeof error.code === 'string' ? error.code : undefined;
      throw new CommandError(`${code ? `${code}: ` : ''}${error.message} (HTTP ${response.status})`, code);
    }
    throw new CommandError(`${request.method} ${url} failed with HTTP ${response.status}`);
  }
  return body;
}

function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return 'no answer in time';
  }
  if (cause?.code === 'ECONNREFUSED') return 'connection refused (is the node running?)';
  if (cause?.code === 'ENOTFOUND') return 'unknown host';
  return cause?.message ?? (error instanceof Error ? error.message : String(error));
}
