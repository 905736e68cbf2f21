/**
 * A small router over node:http: routes are a method and a path pattern of segments, where
 * `:name` matches one segment (percent-decoded; undefined when the encoding is invalid). Matching
 * is on the raw path, so an encoded `/` (%2F) or `..` stays inside its segment. A path that matches
 * no pattern is ROUTE_NOT_FOUND; one that matches with another method is METHOD_NOT_ALLOWED.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from './errors.js';

/** One request as a handler sees it. */
export interface ApiRequest {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  /** The pattern's `:name` segments, percent-decoded (undefined when the encoding is invalid). */
  readonly params: Readonly<Record<string, string | undefined>>;
  readonly query: URLSearchParams;
  /** The route's pattern, e.g. `/v1/c/:collection/:key` (for logs and metrics). */
  readonly route: string;
}

/** What a handler answers: a status and a JSON body. */
export interface ApiReply {
  readonly status: number;
  readonly body: unknown;
}

/** A route's handler: answers with a reply, or throws ApiError. */
export type RouteHandler = (request: ApiRequest) => Promise<ApiReply> | ApiReply;

interface Route {
  readonly method: string;
  readonly pattern: string;
  readonly segments: readonly string[];
  readonly handler: RouteHandler;
}

/** What matching a request found. */
export type RouteMatch =
  | {
      readonly handler: RouteHandler;
      readonly params: Record<string, string | undefined>;
      readonly route: string;
    }
  | { readonly error: ApiError; readonly allow?: string };

/** The path (raw, not decoded) and the query of a request target. */
export function splitTarget(target: string): { path: string; query: URLSearchParams } {
  if (!target.startsWith('/')) {
    // Absolute form ("http://host/path"), as sent to proxies.
    try {
      const url = new URL(target);
      return { path: url.pathname, query: url.searchParams };
    } catch {
      return { path: '', query: new URLSearchParams() };
    }
  }
  const mark = target.indexOf('?');
  return mark < 0
    ? { path: target, query: new URLSearchParams() }
    : { path: target.slice(0, mark), query: new URLSearchParams(target.slice(mark + 1)) };
}

/** A table of routes; see the module comment. */
export class Router {
  readonly #routes: Route[] = [];

  /** Adds a route: `pattern` like `/v1/c/:collection/:key`. */
  add(method: string, pattern: string, handler: RouteHandler): void {
    this.#routes.push({ method, pattern, segments: pattern.split('/').slice(1), handler });
  }

  /** The route for a method and raw path, or the error to answer. */
  match(method: string, path: string): RouteMatch {
    const parts = path.split('/').slice(1);
    const allowed = new Set<string>();
    for (const route of this.#routes) {
      const params = matchSegments(route.segments, parts);
      if (params === undefined) continue;
      if (route.method === method) return { handler: route.handler, params, route: route.pattern };
      allowed.add(route.method);
    }
    if (allowed.size > 0) {
      const allow = [...allowed].join(', ');
      return {
        error: new ApiError('METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}: use ${allow}`),
        allow,
      };
    }
    return {
      error: new ApiError('ROUTE_NOT_FOUND', `no route ${method} ${path}: see docs/API.md for the routes`),
    };
  }
}

function matchSegments(
  pattern: readonly string[],
  parts: readonly string[],
): Record<string, string | undefined> | undefined {
  if (pattern.length !== parts.length) return undefined;
  const params: Record<string, string | undefined> = {};
  for (let i = 0; i < pattern.length; i++) {
    const expected = pattern[i] as string;
    const part = parts[i] as string;
    if (expected.startsWith(':')) params[expected.slice(1)] = decodeSegment(part);
    else if (expected !== part) return undefined;
  }
  return params;
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
