/**
 * Answering one HTTP request of a node's client API: a raw route added with addRoute, else the
 * router's JSON route; errors become their JSON body and status (the connection dropped when the
 * body was left unread, or the node is closing), and every request is reported as a `request` event.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, apiErrorOf } from './errors.js';
import { ClientGoneError } from './http-body.js';
import { sendJson } from './http-reply.js';
import type { NodeEvent } from './node-options.js';
import { type Router, splitTarget } from './router.js';

/** A handler added with addRoute: it answers on `response` itself. */
export type RawRouteHandler = (request: IncomingMessage, response: ServerResponse) => void | Promise<void>;

/** What answering needs of its node. */
export interface Dispatch {
  readonly router: Router;
  /** Raw routes by `METHOD path`. */
  readonly rawRoutes: ReadonlyMap<string, RawRouteHandler>;
  /** Whether the node is shutting down: requests are refused, connections closed after answering. */
  closing(): boolean;
  emit(event: NodeEvent): void;
}

/** Answers `request` (see the module comment). */
export async function answer(
  dispatch: Dispatch,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const started = performance.now();
  const method = request.method ?? 'GET';
  const { path, query } = splitTarget(request.url ?? '/');
  let route: string | undefined;
  try {
    if (dispatch.closing())
      throw new ApiError('SHUTTING_DOWN', 'the node is shutting down: retry on another node');
    const raw = dispatch.rawRoutes.get(`${method} ${path}`);
    if (raw) {
      route = path;
      await raw(request, response);
      return;
    }
    const match = dispatch.router.match(method, path);
    if ('error' in match) {
      if (match.allow !== undefined) response.setHeader('Allow', match.allow);
      throw match.error;
    }
    route = match.route;
    const reply = await match.handler({ request, response, params: match.params, query, route });
    sendJson(response, reply.status, reply.body, { close: dispatch.closing() });
  } catch (error) {
    if (error instanceof ClientGoneError) {
      response.destroy();
      return;
    }
    const apiError = apiErrorOf(error);
    if (apiError.code === 'INTERNAL') dispatch.emit({ type: 'error', where: `${method} ${path}`, error });
    if (response.headersSent) {
      response.destroy();
      return;
    }
    // A body left unread (refused early, or too large) is not read at all: drop the connection.
    const close = dispatch.closing() || !request.complete;
    sendJson(response, apiError.status, apiError.toJSON(), { close });
  } finally {
    dispatch.emit({
      type: 'request',
      method,
      route,
      path,
      status: response.statusCode,
      durationMs: performance.now() - started,
    });
  }
}
