/**
 * Reading a request body with a byte limit. A body declared larger than the limit is refused
 * before a byte of it is read; one that turns out larger (chunked) is refused as soon as it passes
 * the limit, and nothing past it is kept. Either way the answer closes the connection, so the rest
 * of the body is never read.
 */
import type { IncomingMessage } from 'node:http';
import { ApiError } from './errors.js';

/** Thrown when the client went away before its body arrived: there is no one to answer. */
export class ClientGoneError extends Error {
  override name = 'ClientGoneError';
}

/** Reads the whole body of `request`, at most `maxBytes`; throws ApiError BODY_TOO_LARGE past it. */
export function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const tooLarge = () =>
    new ApiError(
      'BODY_TOO_LARGE',
      `the body is larger than this node's limit of ${maxBytes} bytes: send less, or raise maxBodyBytes`,
    );
  const declared = request.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const cleanup = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onGone);
      request.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      length += chunk.length;
      if (length > maxBytes) {
        cleanup();
        request.pause();
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, length));
    };
    const onGone = () => {
      cleanup();
      reject(new ClientGoneError('the client closed the connection before sending its whole body'));
    };
    const onClose = () => {
      if (!request.complete) onGone();
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onGone);
    request.on('close', onClose);
  });
}
