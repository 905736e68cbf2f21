/** Catching what a call throws, so that a test asserts on the error's code, not on a stack. */

/** What `run` threw (or undefined). */
export function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}
