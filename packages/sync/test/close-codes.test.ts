import {
  CLOSE_CODES,
  closeCodeName,
  DEFAULT_TRANSPORT_LIMITS,
  isSendableCloseCode,
  MAX_CLOSE_REASON_BYTES,
  resolveTransportLimits,
  truncateCloseReason,
} from '@driftless/sync';
import { describe, expect, it } from 'vitest';

describe('close codes', () => {
  it('are unique, and Driftless’s own sit in the application range 4000–4999', () => {
    const codes = Object.values(CLOSE_CODES);
    expect(new Set(codes).size).toBe(codes.length);
    for (const [name, code] of Object.entries(CLOSE_CODES)) {
      expect(code < 1016 || (code >= 4000 && code <= 4999), name).toBe(true);
    }
  });

  it('can all be sent except ABNORMAL, which is only ever reported locally', () => {
    for (const [name, code] of Object.entries(CLOSE_CODES)) {
      expect(isSendableCloseCode(code), name).toBe(name !== 'ABNORMAL');
    }
    for (const code of [0, 999, 1004, 1005, 1015, 2999, 5000, 4000.5])
      expect(isSendableCloseCode(code)).toBe(false);
  });

  it('name themselves for logs', () => {
    expect(closeCodeName(CLOSE_CODES.BACKPRESSURE)).toBe('BACKPRESSURE');
    expect(closeCodeName(4999)).toBe('4999');
  });

  it('cut reasons to 123 UTF-8 bytes on a character boundary', () => {
    expect(truncateCloseReason('short')).toBe('short');
    const cut = truncateCloseReason('🙂'.repeat(40));
    expect(new TextEncoder().encode(cut).length).toBeLessThanOrEqual(MAX_CLOSE_REASON_BYTES);
    expect(cut).toBe('🙂'.repeat(30));
  });
});

describe('transport limits', () => {
  it('default to 4 MiB frames, 1 MiB high water, 256 KiB low water and a 16 MiB hard limit', () => {
    expect(resolveTransportLimits()).toEqual({
      maxFrameBytes: 4 * 1024 * 1024,
      highWaterBytes: 1024 * 1024,
      lowWaterBytes: 256 * 1024,
      maxBufferedBytes: 16 * 1024 * 1024,
    });
    expect(resolveTransportLimits({ highWaterBytes: 64 * 1024 }).lowWaterBytes).toBe(16 * 1024);
    expect(DEFAULT_TRANSPORT_LIMITS.maxFrameBytes).toBeLessThan(DEFAULT_TRANSPORT_LIMITS.maxBufferedBytes);
  });

  it('refuse limits that do not fit together', () => {
    const invalid = { code: 'INVALID_ARGUMENT' };
    expect(() => resolveTransportLimits({ lowWaterBytes: 2, highWaterBytes: 1 })).toThrow(
      expect.objectContaining(invalid),
    );
    expect(() => resolveTransportLimits({ highWaterBytes: 32 * 1024 * 1024 })).toThrow(
      expect.objectContaining(invalid),
    );
    expect(() => resolveTransportLimits({ maxFrameBytes: 0 })).toThrow(expect.objectContaining(invalid));
    expect(() => resolveTransportLimits({ maxFrameBytes: 64 * 1024 * 1024 })).toThrow(
      expect.objectContaining(invalid),
    );
    expect(() => resolveTransportLimits({ maxBufferedBytes: -1 })).toThrow(expect.objectContaining(invalid));
  });
});
