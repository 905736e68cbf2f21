/** Counters of one session. */
export interface SessionStats {
  opsSent: number;
  bytesSent: number;
  framesSent: number;
  opsReceived: number;
  /** Ops received that this replica already had (relays in a mesh send some twice). */
  opsDuplicate: number;
  bytesReceived: number;
  /** State transfers (deltas and snapshots) completed each way, and the state bytes sent. */
  statesSent: number;
  statesReceived: number;
  stateBytesSent: number;
}

/** Counters of a session that has done nothing yet. */
export function zeroStats(): SessionStats {
  return {
    opsSent: 0,
    bytesSent: 0,
    framesSent: 0,
    opsReceived: 0,
    opsDuplicate: 0,
    bytesReceived: 0,
    statesSent: 0,
    statesReceived: 0,
    stateBytesSent: 0,
  };
}
