/**
 * The addresses a node is given: where to listen ("host:port"), and its peers, each either the
 * base url of a node's HTTP API (http://host:port, the node serves peers at /v1/peers on the same
 * port) or the WebSocket url itself (ws://host:port/v1/peers).
 */
import { DriftlessError } from '@driftless/core';

/** The path every node serves its peers on, beside its HTTP API. */
export const PEER_PATH = '/v1/peers';

/** Formats a host for a url: IPv6 literals in brackets. */
export function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * Reads "host:port", "[v6]:port", ":port" or "port" (127.0.0.1 when the host is left out; port 0
 * picks a free one). Throws INVALID_ARGUMENT for anything else.
 */
export function parseListen(address: string): { host: string; port: number } {
  const match = /^(?:(\[[0-9A-Fa-f:.]+\]|[^:[\]\s/]+)?:)?(\d{1,5})$/.exec(address.trim());
  const port = Number(match?.[2]);
  if (!match || port > 65_535) {
    throw new DriftlessError(
      'INVALID_ARGUMENT',
      `cannot listen at ${JSON.stringify(address)}: use "host:port" (e.g. "127.0.0.1:7070", ":0" for a free port)`,
    );
  }
  const host = (match[1] ?? '127.0.0.1').replace(/^\[(.*)\]$/, '$1');
  return { host, port };
}

/**
 * The WebSocket url to dial for a peer given as http(s)://host:port, ws(s)://host:port[/path] or
 * host:port. Throws INVALID_ARGUMENT for anything else.
 */
export function peerDialUrl(peer: string): string {
  const invalid = () =>
    new DriftlessError(
      'INVALID_ARGUMENT',
      `invalid peer ${JSON.stringify(peer)}: use http://host:port (the peer's API) or ws://host:port${PEER_PATH}`,
    );
  let url: URL;
  try {
    url = new URL(/^[a-z]+:\/\//i.test(peer) ? peer : `ws://${peer}`);
  } catch {
    throw invalid();
  }
  if (url.hostname === '' || url.search !== '' || url.hash !== '' || url.username !== '') throw invalid();
  const scheme = { 'http:': 'ws:', 'ws:': 'ws:', 'https:': 'wss:', 'wss:': 'wss:' }[url.protocol];
  if (scheme === undefined) throw invalid();
  const http = url.protocol === 'http:' || url.protocol === 'https:';
  if (http && url.pathname !== '/') throw invalid();
  const path = http || url.pathname === '/' ? PEER_PATH : url.pathname;
  return `${scheme}//${url.host}${path}`;
}

/** The HTTP base url of a node from the WebSocket url its peers dial. */
export function apiUrlOf(peerUrl: string): string | undefined {
  try {
    const url = new URL(peerUrl);
    const scheme = url.protocol === 'wss:' ? 'https:' : 'http:';
    return `${scheme}//${url.host}`;
  } catch {
    return undefined;
  }
}
