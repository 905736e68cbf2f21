/**
 * The admin routes: promoting a replica (POST /v1/admin/promote) and dropping a peer's log slot
 * (DELETE /v1/admin/slots/:node). Each needs the cluster secret as a bearer token, compared by hash
 * in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Role } from '@driftless/sync';
import { ApiError } from './errors.js';
import type { LogRetention } from './log-retention.js';
import type { Router } from './router.js';

/** What the admin routes need from the node. */
export interface AdminHost {
  readonly id: string;
  readonly retention: LogRetention;
  role(): Role;
  /** Makes a read-only replica writable (DriftlessNode.promote). */
  promote(): void;
}

/** Adds the admin routes to `router`, guarded by `secret`. */
export function addAdminRoutes(router: Router, host: AdminHost, secret: Uint8Array): void {
  const secretHash = sha256(secret);
  const authorize = (request: IncomingMessage, response: ServerResponse) => {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer (.+)$/i.exec(header);
    const given = match?.[1] === undefined ? undefined : sha256(Buffer.from(match[1], 'utf8'));
    if (given === undefined || !timingSafeEqual(given, secretHash)) {
      response.setHeader('WWW-Authenticate', 'Bearer realm="driftless admin"');
      throw new ApiError('UNAUTHORIZED', 'admin routes need "Authorization: Bearer <cluster secret>"');
    }
  };
  router.add('POST', '/v1/admin/promote', ({ request, response }) => {
    authorize(request, response);
    const previous = host.role();
    host.promote();
    return { status: 200, body: { id: host.id, role: host.role(), previous } };
  });
  router.add('DELETE', '/v1/admin/slots/:node', async ({ request, response, params }) => {
    authorize(request, response);
    const peer = params.node as string;
    if (!(await host.retention.dropSlot(peer))) {
      throw new ApiError(
        'SLOT_NOT_FOUND',
        `no slot for node ${JSON.stringify(peer)}: see "log.slots" in status`,
      );
    }
    return { status: 200, body: { dropped: peer, log: host.retention.status() } };
  });
}

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}
