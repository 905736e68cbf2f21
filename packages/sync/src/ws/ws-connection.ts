/**
 * A Connection over one `ws` WebSocket, either end. Binary frames only (a text frame closes with
 * BAD_FRAME). bufferedBytes is ws's bufferedAmount: bytes ws and the socket hold that the kernel
 * has not taken yet. ws has no drain event on a WebSocket, so every send passes a callback, which
 * ws calls once that frame is written out; the callback rechecks bufferedAmount and fires drain.
 * The socket is paused from construction until open(), so a peer that talks before the owner is
 * ready backs up into TCP instead of into memory.
 */
import type { WebSocket } from 'ws';
import { CLOSE_CODES } from '../close-codes.js';
import { TransportError } from '../errors.js';
import { FrameConnection } from '../frame-connection.js';
import type { TransportLimits } from '../transport.js';

/** One end of a WebSocket. */
export class WsConnection extends FrameConnection {
  readonly label: string;
  private readonly socket: WebSocket;
  private readonly afterWrite = () => this.drained();

  constructor(socket: WebSocket, label: string, limits: TransportLimits) {
    super(limits);
    this.socket = socket;
    this.label = label;
    socket.binaryType = 'nodebuffer';
    socket.pause();
    socket.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    socket.on('error', (error) => this.onError(error));
    socket.on('close', (code, reason) => this.ended(code, reason.toString()));
  }

  get bufferedBytes(): number {
    return this.socket.bufferedAmount;
  }

  /** Resolves once the underlying socket is closed (for listeners that wait for their connections). */
  whenSocketClosed(): Promise<void> {
    if (this.socket.readyState === this.socket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  /** Drops the socket at once, without a close handshake (for listeners past their grace period). */
  terminate(): void {
    this.socket.terminate();
  }

  protected write(frame: Uint8Array): void {
    // The peer's close frame can arrive before ws emits 'close'; ws would count the frame as
    // buffered forever, so refuse it the way a closed connection does.
    if (this.socket.readyState !== this.socket.OPEN) {
      throw new TransportError('TRANSPORT_CLOSED', `${this.label} is closing: send on a new connection`);
    }
    this.socket.send(frame, { binary: true, compress: false, fin: true }, this.afterWrite);
  }

  protected shutdown(code: number, reason: string, abort: boolean): void {
    // A peer that stopped reading would never read a close frame queued behind megabytes: drop it.
    if (abort) {
      this.socket.terminate();
      return;
    }
    this.socket.close(code, reason);
    // Read again so the peer's closing answer is seen even when the owner had paused; frames that
    // still arrive are dropped, since the connection is closing.
    this.socket.resume();
  }

  protected pauseReading(): void {
    this.socket.pause();
  }

  protected resumeReading(): void {
    this.socket.resume();
  }

  private onMessage(data: unknown, isBinary: boolean): void {
    if (!isBinary) {
      if (this.state === 'open') {
        this.close(CLOSE_CODES.BAD_FRAME, 'text frames are refused: Driftless peers send binary frames');
      }
      return;
    }
    const buffer = data as Buffer;
    this.received(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength));
  }

  private onError(error: Error & { code?: string }): void {
    if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      this.ended(
        CLOSE_CODES.FRAME_TOO_LARGE,
        `a frame exceeded maxFrameBytes (${this.limits.maxFrameBytes})`,
      );
    } else if (error.code?.startsWith('WS_ERR_')) {
      this.ended(CLOSE_CODES.PROTOCOL_ERROR, `invalid WebSocket data: ${error.message}`);
    } else {
      this.ended(CLOSE_CODES.ABNORMAL, `connection lost: ${error.message}`);
    }
  }
}
