/**
 * @driftless/sync/ws: the WebSocket transport, for Node. Browsers use their own WebSocket or the
 * in-memory network from `@driftless/sync`.
 */
export type { UpgradeVerdict } from './ws-listener.js';
export { listenOn, type Pem, WsTransport, type WsTransportOptions } from './ws-transport.js';
