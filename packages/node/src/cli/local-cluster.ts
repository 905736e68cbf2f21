/**
 * Node processes on this machine, each a `driftless start` child run through the same entry
 * point as the CLI itself. A node is ready once it has printed its banner; its logs (stderr) go
 * to a file beside its data. Used by `driftless demo`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { CommandError } from './usage-error.js';

/** A running node process. */
export interface NodeProcess {
  readonly id: string;
  /** The HTTP API. */
  readonly url: string;
  /** Where peers dial it. */
  readonly peerUrl: string;
  readonly logFile: string;
  readonly child: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<number | null>;
}

/** How to start one node. */
export interface NodeSpec {
  readonly id: string;
  /** Arguments after `start` (the data directory, peers, …); `--id` is added. */
  readonly args: readonly string[];
  readonly logFile: string;
}

/** How long a node may take to print its banner. */
export const NODE_START_TIMEOUT_MS = 30_000;

/** Starts `driftless start` as a child and resolves once it serves. */
export function startNodeProcess(selfCommand: readonly string[], spec: NodeSpec): Promise<NodeProcess> {
  const [command, ...prefix] = selfCommand;
  if (!command) throw new Error('no command to start nodes with');
  const logFd = openSync(spec.logFile, 'a');
  // Its own process group: a Ctrl-C at the terminal reaches the caller, which stops the nodes in
  // order, instead of every node at once.
  const child = spawn(command, [...prefix, 'start', '--id', spec.id, ...spec.args], {
    stdio: ['ignore', 'pipe', logFd],
    detached: true,
  });
  closeSync(logFd);
  // Never leave a node behind when the caller exits, however it exits.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      process.off('exit', killOnExit);
      resolve(code);
    }),
  );
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new CommandError(`node ${spec.id} did not start in ${NODE_START_TIMEOUT_MS / 1000} s`));
    }, NODE_START_TIMEOUT_MS);
    const onData = (chunk: string) => {
      text += chunk;
      const url = /^\s*api\s+(\S+)/m.exec(text)?.[1];
      const peerUrl = /^\s*peers\s+(\S+)/m.exec(text)?.[1];
      if (url && peerUrl) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve({ id: spec.id, url, peerUrl, logFile: spec.logFile, child, exited });
      }
    };
    child.stdout?.setEncoding('utf8').on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(
        new CommandError(
          `node ${spec.id} exited with status ${code} before serving: ${lastError(spec.logFile)}`,
        ),
      );
    });
  });
}

/** `n` distinct free ports on 127.0.0.1 (held together while picked, so they differ). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  const ports = await Promise.all(
    servers.map(
      (server) =>
        new Promise<number>((resolve, reject) => {
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
        }),
    ),
  );
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** Stops nodes with SIGTERM (graceful), then SIGKILL for any still running after `graceMs`. */
export async function stopNodeProcesses(nodes: readonly NodeProcess[], graceMs = 10_000): Promise<void> {
  await Promise.all(
    nodes.map(async (node) => {
      if (node.child.exitCode !== null || node.child.signalCode !== null) return;
      node.child.kill('SIGTERM');
      const timer = setTimeout(() => node.child.kill('SIGKILL'), graceMs);
      await node.exited;
      clearTimeout(timer);
    }),
  );
}

/** The last line a node wrote to its log or stderr, for an error message. */
export function lastError(logFile: string): string {
  let text = '';
  try {
    text = readFileSync(join(logFile), 'utf8');
  } catch {
    return 'no log';
  }
  const lines = text.trim().split('\n');
  return lines.at(-1) ?? 'no log';
}
