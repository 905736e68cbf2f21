import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Node flags that run a TypeScript entry point from sources (tsx, and the source export condition). */
export const TS_NODE_ARGS = ['--conditions=@driftless/source', '--import', 'tsx'];

/** Starts a TypeScript fixture as a child process with piped stdout/stderr. */
export function spawnTs(entry: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  return spawn(process.execPath, [...TS_NODE_ARGS, entry, ...args], { cwd: ROOT, stdio: 'pipe', ...options });
}

/** Collects a child's stdout as complete lines, and its stderr, and resolves when it exits. */
export function watchLines(child: ChildProcess): {
  lines: string[];
  /** Everything the child wrote to stderr so far. */
  stderr(): string;
  waitFor(predicate: (line: string) => boolean, timeoutMs: number): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
} {
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let partial = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => {
    const parts = (partial + text).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const wake of waiters) wake();
  });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>(
    (resolve) =>
      child.on('exit', (code, signal) => {
        for (const wake of waiters) wake();
        resolve({ code, signal, stderr });
      }),
  );
  const waitFor = (predicate: (line: string) => boolean, timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (lines.some(predicate)) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        } else if (child.exitCode !== null || child.signalCode !== null) {
          waiters.delete(check);
          clearTimeout(timer);
          reject(new Error(`child exited before the expected line; stderr:\n${stderr}`));
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms; stderr:\n${stderr}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return { lines, stderr: () => stderr, waitFor, exited };
}
