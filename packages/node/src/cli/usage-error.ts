/**
 * The two ways a CLI command fails. Each is printed as one line, `driftless: <message>`, and
 * exits with its own status so scripts can tell a mistake in the command line from a failure
 * of the node or the network.
 */

/** Exit statuses of the `driftless` command. */
export const EXIT = {
  OK: 0,
  /** The node, the store or a remote node failed. */
  FAILURE: 1,
  /** The command line or the config file is wrong: nothing was started or sent. */
  USAGE: 2,
} as const;

/** A mistake in the command line or the config file. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A failure while running a well-formed command (a port in use, a remote error, …). */
export class CommandError extends Error {
  override name = 'CommandError';
  /** The node's error code, for an error answered by a node's API. */
  readonly apiCode: string | undefined;

  constructor(message: string, apiCode?: string) {
    super(message);
    this.apiCode = apiCode;
  }
}
