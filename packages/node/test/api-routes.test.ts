import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { DriftlessNode, decodeToken } from '../src/index.js';
import { call, connected, SECRET, startNode, text, until } from './node-harness.js';

const auth = { authorization: `Bearer ${SECRET}` };

/**
 * A request through node:http, which sends the path as it is (no ".." normalization) and, for a
 * body in parts, streams it chunked; with `end` false the body is never finished.
 */
function rawRequest(
  node: { url: string },
  method: string,
  path: string,
  body: string | string[],
  end = true,
): Promise<{ status: number; body: string }> {
  const url = new URL(node.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method }, (res) => {
      let text = '';
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    for (const part of typeof body === 'string' ? [body] : body) req.write(part);
    if (end) req.end();
  });
}

describe('data routes', () => {
  it('PUT then GET a register, with a token on both', async () => {
    const node = await startNode('a');
    const put = await call(node, 'PUT', '/v1/c/users/alice', { name: 'Alice', age: 30 });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ op: { origin: 'a', seq: 1 }, durable: 'local', acked: [] });
    expect(put.body.ackTimedOut).toBeUndefined();
    expect(decodeToken(put.body.token).get('a')).toBe(1);
    const get = await call(node, 'GET', '/v1/c/users/alice');
    expect(get.status).toBe(200);
    expect(get.body).toMatchObject({ type: 'register', value: { name: 'Alice', age: 30 } });
    expect(decodeToken(get.body.token).get('a')).toBe(1);
    expect(get.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('answers 404 NOT_FOUND (with a token) for a missing key', async () => {
    const node = await startNode('a');
    const get = await call(node, 'GET', '/v1/c/users/nobody');
    expect(get.status).toBe(404);
    expect(get.body.error.code).toBe('NOT_FOUND');
    expect(typeof get.body.error.message).toBe('string');
    expect(typeof get.body.token).toBe('string');
  });

  it('keys are percent-encoded path segments: slashes and dots stay in the key', async () => {
    const node = await startNode('a');
    const keys = ['a/b', 'sp ace', 'ünï/cødé?#&', '.x'];
    for (const key of keys) {
      const path = `/v1/c/k/${encodeURIComponent(key)}`;
      expect((await call(node, 'PUT', path, key)).status).toBe(200);
      expect((await call(node, 'GET', path)).body.value).toBe(key);
    }
    // fetch normalizes "..", even encoded; the node itself never does.
    const dots = await rawRequest(node, 'PUT', '/v1/c/k/%2E%2E', '"dots"');
    expect(dots.status).toBe(200);
    const list = await call(node, 'GET', '/v1/c/k');
    expect(list.body.items.map((item: { key: string }) => item.key).sort()).toEqual([...keys, '..'].sort());
  });

  it('PATCH merges fields of a document; null removes one', async () => {
    const node = await startNode('a');
    await call(node, 'PATCH', '/v1/c/docs/d', { title: 'T', body: 'B' });
    await call(node, 'PATCH', '/v1/c/docs/d', { body: null, tags: ['x'] });
    const get = await call(node, 'GET', '/v1/c/docs/d');
    expect(get.body).toMatchObject({ type: 'document', value: { title: 'T', tags: ['x'] } });
    expect(get.body.value.body).toBeUndefined();
  });

  it('POST incr counts up and down; an empty body adds 1', async () => {
    const node = await startNode('a');
    await call(node, 'POST', '/v1/c/stats/hits/incr', { by: 5 });
    await call(node, 'POST', '/v1/c/stats/hits/incr', { by: -2 });
    await call(node, 'POST', '/v1/c/stats/hits/incr');
    expect((await call(node, 'GET', '/v1/c/stats/hits')).body).toMatchObject({ type: 'counter', value: 4 });
  });

  it('POST add and remove change a set', async () => {
    const node = await startNode('a');
    await call(node, 'POST', '/v1/c/tags/t/add', { element: 'red' });
    await call(node, 'POST', '/v1/c/tags/t/add', { element: { rgb: [0, 0, 255] } });
    await call(node, 'POST', '/v1/c/tags/t/remove', { element: 'red' });
    const get = await call(node, 'GET', '/v1/c/tags/t');
    expect(get.body).toMatchObject({ type: 'set', value: [{ rgb: [0, 0, 255] }] });
  });

  it('DELETE removes a key; deleting a missing key is 404 and writes nothing', async () => {
    const node = await startNode('a');
    await call(node, 'PUT', '/v1/c/users/bob', 1);
    const del = await call(node, 'DELETE', '/v1/c/users/bob');
    expect(del.status).toBe(200);
    expect(del.body.op).toEqual({ origin: 'a', seq: 2 });
    expect((await call(node, 'GET', '/v1/c/users/bob')).status).toBe(404);
    const again = await call(node, 'DELETE', '/v1/c/users/bob');
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe('NOT_FOUND');
    expect(node.status().vector).toEqual({ a: 2 });
  });

  it('Yjs: updates go in as bytes and the document comes back base64', async () => {
    const node = await startNode('a');
    const doc = new Y.Doc();
    doc.getText('t').insert(0, 'hello');
    const first = Y.encodeStateAsUpdate(doc);
    const put = await call(node, 'POST', '/v1/c/notes/n/yjs', first, {
      'content-type': 'application/octet-stream',
    });
    expect(put.status).toBe(200);
    const before = Y.encodeStateVector(doc);
    doc.getText('t').insert(5, ' world');
    await call(node, 'POST', '/v1/c/notes/n/yjs', Y.encodeStateAsUpdate(doc, before));
    const get = await call(node, 'GET', '/v1/c/notes/n');
    expect(get.body.type).toBe('yjs');
    const copy = new Y.Doc();
    Y.applyUpdate(copy, Buffer.from(get.body.value, 'base64'));
    expect(copy.getText('t').toString()).toBe('hello world');
  });

  it('a Yjs update that builds on what the key lacks is 409 YJS_MISSING_DEPENDENCY', async () => {
    const node = await startNode('a');
    const doc = new Y.Doc();
    doc.getText('t').insert(0, 'a');
    const before = Y.encodeStateVector(doc);
    doc.getText('t').insert(1, 'b');
    const answer = await call(node, 'POST', '/v1/c/notes/n/yjs', Y.encodeStateAsUpdate(doc, before));
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe('YJS_MISSING_DEPENDENCY');
  });

  it('lists a collection in key order, by prefix, page by page', async () => {
    const node = await startNode('a');
    for (const key of ['b2', 'a1', 'b1', 'c1', 'b3']) await call(node, 'PUT', `/v1/c/items/${key}`, key);
    const all = await call(node, 'GET', '/v1/c/items');
    expect(all.body.items.map((item: { key: string }) => item.key)).toEqual(['a1', 'b1', 'b2', 'b3', 'c1']);
    expect(all.body.items[0]).toEqual({ key: 'a1', type: 'register', value: 'a1' });
    expect(all.body.cursor).toBeUndefined();
    const page1 = await call(node, 'GET', '/v1/c/items?prefix=b&limit=2');
    expect(page1.body.items.map((item: { key: string }) => item.key)).toEqual(['b1', 'b2']);
    const page2 = await call(node, 'GET', `/v1/c/items?prefix=b&limit=2&cursor=${page1.body.cursor}`);
    expect(page2.body.items.map((item: { key: string }) => item.key)).toEqual(['b3']);
    expect(page2.body.cursor).toBeUndefined();
    expect((await call(node, 'GET', '/v1/c/empty')).body.items).toEqual([]);
  });

  it('an mv collection keeps concurrent writes as siblings', async () => {
    const a = await startNode('a', { collectionModes: { carts: 'mv' } });
    const b = await startNode('b', { collectionModes: { carts: 'mv' } });
    await call(a, 'PUT', '/v1/c/carts/c1', ['apple']);
    await call(b, 'PUT', '/v1/c/carts/c1', ['pear']);
    // c relays each one's write to the other: neither saw the other's, so both stay.
    await startNode('c', { collectionModes: { carts: 'mv' }, peers: [a.url, b.url] });
    await until(() => a.replica.state.versionVector.get('b') === 1, "a to get b's write");
    const read = await call(a, 'GET', '/v1/c/carts/c1');
    expect(read.body.type).toBe('mv');
    expect(read.body.value).toBeUndefined();
    expect(read.body.siblings.map((s: { value: string[] }) => s.value[0]).sort()).toEqual(['apple', 'pear']);
  });
});

describe('bad input: a stable 4xx code, and nothing stored changes', () => {
  async function unchanged(node: DriftlessNode, attempt: () => Promise<void>) {
    const before = node.status();
    await attempt();
    const after = node.status();
    expect(after.vector).toEqual(before.vector);
    expect(after.digest).toBe(before.digest);
  }

  it('refuses malformed JSON, values of the wrong shape and bad names', async () => {
    const node = await startNode('a');
    await call(node, 'PUT', '/v1/c/users/alice', 'Alice');
    const cases: [string, string, unknown, number, string][] = [
      ['PUT', '/v1/c/users/x', text('{"unclosed": '), 400, 'INVALID_JSON'],
      ['PUT', '/v1/c/users/x', text(''), 400, 'INVALID_JSON'],
      ['PUT', '/v1/c/users/x', new Uint8Array([0xff, 0xfe, 0x22]), 400, 'INVALID_JSON'],
      ['PUT', '/v1/c/users/x', text('{"__proto__": 1}'), 400, 'INVALID_VALUE'],
      ['PUT', '/v1/c/users/x', text('1e400'), 400, 'INVALID_VALUE'],
      ['PUT', '/v1/c/users/x', text(`${'['.repeat(60)}${']'.repeat(60)}`), 400, 'INVALID_VALUE'],
      ['PATCH', '/v1/c/users/x', [1, 2], 400, 'INVALID_VALUE'],
      ['POST', '/v1/c/stats/x/incr', { by: 0 }, 400, 'INVALID_VALUE'],
      ['POST', '/v1/c/stats/x/incr', { by: 1.5 }, 400, 'INVALID_VALUE'],
      ['POST', '/v1/c/stats/x/incr', { by: 1, extra: true }, 400, 'INVALID_VALUE'],
      ['POST', '/v1/c/stats/x/incr', 'five', 400, 'INVALID_VALUE'],
      ['POST', '/v1/c/tags/x/add', {}, 400, 'INVALID_VALUE'],
      ['POST', '/v1/c/notes/x/yjs', new Uint8Array(0), 400, 'INVALID_VALUE'],
      ['POST', '/v1/c/notes/x/yjs', new Uint8Array([1, 2, 3, 4, 5]), 400, 'INVALID_VALUE'],
      ['PUT', '/v1/c/bad%20name/x', 1, 400, 'INVALID_COLLECTION'],
      ['PUT', '/v1/c/.hidden/x', 1, 400, 'INVALID_COLLECTION'],
      ['PUT', `/v1/c/users/${'k'.repeat(513)}`, 1, 400, 'INVALID_KEY'],
      ['PUT', '/v1/c/users/%E0%A4%A', 1, 400, 'INVALID_KEY'],
      ['PUT', '/v1/c/users/%ED%A0%80', 1, 400, 'INVALID_KEY'],
      ['PUT', '/v1/c/users/', 1, 400, 'INVALID_KEY'],
      ['PUT', '/v1/c/users/x?ack=maybe', 1, 400, 'INVALID_QUERY'],
      ['PUT', '/v1/c/users/x?ack=0', 1, 400, 'INVALID_QUERY'],
      ['PUT', '/v1/c/users/x?after=not-a-token!', 1, 400, 'INVALID_TOKEN'],
      ['GET', '/v1/c/users/alice?after=AAAA', undefined, 400, 'INVALID_TOKEN'],
      ['GET', '/v1/c/users?limit=0', undefined, 400, 'INVALID_QUERY'],
      ['GET', '/v1/c/users?limit=abc', undefined, 400, 'INVALID_QUERY'],
      ['GET', '/v1/c/users?limit=100000', undefined, 400, 'INVALID_QUERY'],
      ['PUT', '/v1/c/users/alice', { not: 'allowed' }, 200, ''],
      ['POST', '/v1/c/users/alice/incr', { by: 1 }, 409, 'TYPE_CONFLICT'],
      ['POST', '/v1/c/users/alice/add', { element: 1 }, 409, 'TYPE_CONFLICT'],
      ['PATCH', '/v1/c/users/alice', { a: 1 }, 409, 'TYPE_CONFLICT'],
      ['POST', '/v1/c/users/alice', 1, 405, 'METHOD_NOT_ALLOWED'],
      ['GET', '/v1/c/users/alice/incr', undefined, 405, 'METHOD_NOT_ALLOWED'],
      ['GET', '/v1/nothing', undefined, 404, 'ROUTE_NOT_FOUND'],
      ['GET', '/', undefined, 404, 'ROUTE_NOT_FOUND'],
      ['POST', '/v1/c/users/alice/explode', 1, 404, 'ROUTE_NOT_FOUND'],
    ];
    for (const [method, path, body, status, code] of cases) {
      if (status === 200) {
        // A valid overwrite, so the type-conflict cases below hit a register.
        await call(node, method, path, body);
        continue;
      }
      await unchanged(node, async () => {
        const answer = await call(node, method, path, body);
        expect({ method, path, status: answer.status, code: answer.body?.error?.code }).toEqual({
          method,
          path,
          status,
          code,
        });
        expect(answer.body.error.message.length).toBeGreaterThan(10);
      });
    }
    const wrongMethod = await call(node, 'POST', '/v1/c/users/alice', 1);
    expect(wrongMethod.headers.get('allow')).toBe('GET, PUT, PATCH, DELETE');
  });

  it('refuses an oversize body with 413 without reading it, by declared length or as it streams', async () => {
    const node = await startNode('a', { maxBodyBytes: 1024 });
    await unchanged(node, async () => {
      const declared = await call(node, 'PUT', '/v1/c/big/x', 'x'.repeat(5000));
      expect(declared.status).toBe(413);
      expect(declared.body.error.code).toBe('BODY_TOO_LARGE');
      // Chunked: no length up front, so the node counts what arrives and stops past the limit.
      const streamed = await rawRequest(
        node,
        'PUT',
        '/v1/c/big/y',
        [`"${'y'.repeat(800)}`, 'y'.repeat(800)],
        false,
      );
      expect(streamed.status).toBe(413);
      expect(JSON.parse(streamed.body).error.code).toBe('BODY_TOO_LARGE');
    });
    expect((await call(node, 'PUT', '/v1/c/big/z', 'small')).status).toBe(200);
  });

  it('refuses bad options at start', async () => {
    const bad = [
      { id: 'a', secret: 'short' },
      { id: '-bad id', secret: SECRET },
      { id: 'a', secret: SECRET, collectionModes: { carts: 'crdt' as never } },
      { id: 'a', secret: SECRET, collectionModes: { 'bad name': 'mv' as const } },
      { id: 'a', secret: SECRET, listen: 'nowhere' },
      { id: 'a', secret: SECRET, peers: ['ftp://x:1'] },
      { id: 'a', secret: SECRET, role: 'leader' as never },
      { id: 'a', secret: SECRET, ackTimeoutMs: -1 },
    ];
    for (const options of bad) {
      await expect(DriftlessNode.start(options)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
  });

  it('refuses a port in use with TRANSPORT_ADDRESS_IN_USE', async () => {
    const a = await startNode('a');
    await expect(
      DriftlessNode.start({ id: 'b', secret: SECRET, listen: a.url.replace('http://', '') }),
    ).rejects.toMatchObject({ code: 'TRANSPORT_ADDRESS_IN_USE' });
  });
});

describe('status, admin and extra routes', () => {
  it('GET /v1/status answers status()', async () => {
    const node = await startNode('a', { clusterId: 'c1' });
    await call(node, 'PUT', '/v1/c/users/alice', 1);
    const status = await call(node, 'GET', '/v1/status');
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({
      id: 'a',
      role: 'multi',
      clusterId: 'c1',
      url: node.url,
      peerUrl: node.peerUrl,
      vector: { a: 1 },
      ops: { written: 1, applied: 1 },
      conflicts: {},
      feeds: 0,
      peers: [],
    });
    expect(status.body.digest).toBe(node.status().digest);
  });

  it('GET /v1/status shows what a disconnected peer lacks, in ops and in log bytes', async () => {
    const a = await startNode('a');
    const b = await startNode('b', { peers: [a.url] });
    await connected(a, b);
    await b.close();
    await until(() => a.status().peers[0]?.state === 'disconnected', 'b gone');
    for (const key of ['x', 'y', 'z']) await call(a, 'PUT', `/v1/c/kv/${key}`, 'v'.repeat(40));
    const peer = (await call(a, 'GET', '/v1/status')).body.peers[0];
    expect(peer).toMatchObject({ nodeId: 'b', state: 'disconnected', opsNotSent: 3, opsNotDurable: 3 });
    // Three entries of one op each, holding 40-byte values.
    expect(peer.bytesNotDurable).toBeGreaterThan(3 * 40);
    expect(peer.bytesNotSent).toBe(peer.bytesNotDurable);
  });

  it('admin routes need the cluster secret as a bearer token', async () => {
    const node = await startNode('a');
    for (const headers of [
      {},
      { authorization: 'Bearer wrong-secret-0123456789' },
      { authorization: SECRET },
    ]) {
      const answer = await call(node, 'POST', '/v1/admin/promote', undefined, headers);
      expect(answer.status).toBe(401);
      expect(answer.body.error.code).toBe('UNAUTHORIZED');
      expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    const ok = await call(node, 'POST', '/v1/admin/promote', undefined, auth);
    expect(ok.body).toEqual({ id: 'a', role: 'multi', previous: 'multi' });
  });

  it('addRoute serves extra routes ahead of the built-in ones', async () => {
    const node = await startNode('a');
    node.addRoute('GET', '/metrics', (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.end('driftless_up 1\n');
    });
    const response = await fetch(`${node.url}/metrics`);
    expect(await response.text()).toBe('driftless_up 1\n');
    expect((await call(node, 'POST', '/metrics')).status).toBe(404);
  });

  it('GET /v1/changes without an upgrade is 426; other WebSocket paths are refused', async () => {
    const node = await startNode('a');
    const answer = await call(node, 'GET', '/v1/changes');
    expect(answer.status).toBe(426);
    expect(answer.body.error.code).toBe('UPGRADE_REQUIRED');
  });

  it('reports requests and writes as events', async () => {
    const node = await startNode('a');
    await call(node, 'PUT', '/v1/c/users/alice', 1);
    await call(node, 'GET', '/v1/nothing');
    expect(node.events).toContainEqual(expect.objectContaining({ type: 'listening', url: node.url }));
    expect(node.events).toContainEqual(
      expect.objectContaining({ type: 'write', collection: 'users', key: 'alice', kind: 'set' }),
    );
    expect(node.events).toContainEqual(
      expect.objectContaining({
        type: 'request',
        method: 'PUT',
        route: '/v1/c/:collection/:key',
        status: 200,
      }),
    );
    expect(node.events).toContainEqual(
      expect.objectContaining({ type: 'request', route: undefined, path: '/v1/nothing', status: 404 }),
    );
  });
});
