import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ChildOptions,
  childArgs,
  type ReplyMessage,
  type RequestMessage,
  type Requests,
  type RequestType,
  type StartedMessage,
} from './sync-ipc.js';

/**
 * The parent's handle on one node process (sync-child.ts): spawns it with the parent's Node flags
 * (so it runs from the same sources, through tsx), sends it requests over IPC and matches the
 * answers, and ends it. A process that dies fails every request still waiting.
 */

/** How node processes are started. */
export interface SpawnSettings {
  /** Resolve @driftless/* to their tsc-built dist/ rather than to their TypeScript sources. */
  readonly built: boolean;
  /** Write a V8 CPU profile of every Driftless node process into this directory. */
  readonly profileDir: string | undefined;
}

/** The child's entry point. */
const CHILD_ENTRY = fileURLToPath(new URL('./sync-child.ts', import.meta.url));
/** Node flags not passed on to children: profilers and inspectors of this process. */
const PROFILING_FLAG = /^--(cpu-prof|heap-prof|prof|inspect)/;
/** Profiling flags whose value may come as the next argument. */
const PROFILING_FLAG_WITH_VALUE = /^--(cpu|heap)-prof-(dir|name|interval)$/;
/** The export condition that points workspace packages at their sources. */
const SOURCE_CONDITION = /^--conditions=@driftless\/source$/;
/** How long a process may take to start (tsx compiles the sources on a cold cache). */
const START_TIMEOUT_MS = 60_000;

let profiles = 0;

/** One node process. */
export class NodeProcess {
  /** For messages: `driftless-memory A`. */
  readonly name: string;
  /** Where it listens, when it does. */
  readonly url: string | undefined;
  /** When (monotonicMs) the child began to start its node, if it said. */
  readonly startedMs: number | undefined;
  readonly #child: ChildProcess;
  readonly #pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >();
  readonly #exited: Promise<number | null>;
  #nextId = 1;
  #failure: Error | undefined;

  private constructor(
    name: string,
    child: ChildProcess,
    started: StartedMessage,
    exited: Promise<number | null>,
  ) {
    this.name = name;
    this.#child = child;
    this.url = started.url;
    this.startedMs = started.startedMs;
    this.#exited = exited;
    child.on('message', (message: ReplyMessage) => this.#onReply(message));
    void exited.then((code) =>
      this.#failAll(new Error(`${name} exited (code ${code}) with requests waiting`)),
    );
  }

  /** Starts a node process of the replication benchmarks and resolves once it reports that it is up. */
  static spawn(name: string, options: ChildOptions, settings: SpawnSettings): Promise<NodeProcess> {
    const profiled = options.system.startsWith('driftless');
    return NodeProcess.fork(name, { entry: CHILD_ENTRY, args: childArgs(options), profiled }, settings);
  }

  /** Starts `launch.entry` (any child that speaks sync-ipc.ts) and resolves once it reports that it is up. */
  static async fork(name: string, launch: Launch, settings: SpawnSettings): Promise<NodeProcess> {
    const child = fork(launch.entry, [...launch.args], {
      execArgv: execArgvFor(launch.profiled, settings, name),
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const started = await new Promise<StartedMessage>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${name} did not start within ${START_TIMEOUT_MS} ms`)),
        START_TIMEOUT_MS,
      );
      child.once('message', (message: StartedMessage) => {
        clearTimeout(timer);
        resolve(message);
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (code ${code}) before it started`));
      });
      child.once('error', reject);
    }).catch((error: unknown) => {
      child.kill('SIGKILL');
      throw error;
    });
    return new NodeProcess(name, child, started, exited);
  }

  /** Sends a request and resolves with its answer. */
  request<T extends RequestType>(type: T, args: Requests[T]['args']): Promise<Requests[T]['result']> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    const message = { id, type, ...args } as RequestMessage;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#child.send(message);
    });
  }

  /** Closes the node gracefully and waits for the process to end (which writes its CPU profile). */
  async exit(): Promise<void> {
    await this.request('exit', {});
    const code = await this.#exited;
    if (code !== 0) throw new Error(`${this.name} exited with code ${code}`);
  }

  /** Resolves once the process has ended. */
  get exited(): Promise<number | null> {
    return this.#exited;
  }

  /** Ends the process at once (after a failure elsewhere). */
  kill(): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
  }

  #onReply(message: ReplyMessage): void {
    const waiter = this.#pending.get(message.id);
    if (waiter === undefined) return;
    this.#pending.delete(message.id);
    if (message.ok) waiter.resolve(message.result);
    else waiter.reject(new Error(`${this.name}: ${message.error}`));
  }

  #failAll(error: Error): void {
    this.#failure = error;
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
  }
}

/** Spawns every node, in order (a later one may dial an earlier one's url); kills them all if one fails. */
export async function spawnAll(
  specs: readonly { name: string; options: (started: readonly NodeProcess[]) => ChildOptions }[],
  settings: SpawnSettings,
): Promise<NodeProcess[]> {
  const started: NodeProcess[] = [];
  try {
    for (const spec of specs)
      started.push(await NodeProcess.spawn(spec.name, spec.options(started), settings));
  } catch (error) {
    for (const node of started) node.kill();
    throw error;
  }
  return started;
}

/** Runs `work` with the nodes, then exits them all (or kills them all when anything failed). */
export async function withNodes<T>(nodes: readonly NodeProcess[], work: () => Promise<T>): Promise<T> {
  try {
    const result = await work();
    await Promise.all(nodes.map((node) => node.exit()));
    return result;
  } catch (error) {
    for (const node of nodes) node.kill();
    throw error;
  }
}

/** What to fork: a child entry point, its arguments, and whether a --profile run profiles it. */
export interface Launch {
  readonly entry: string;
  readonly args: readonly string[];
  readonly profiled: boolean;
}

/** The parent's Node flags for a child: no profilers of the parent, the source condition unless built. */
function execArgvFor(profiled: boolean, settings: SpawnSettings, name: string): string[] {
  const flags: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    if (PROFILING_FLAG.test(flag)) {
      if (PROFILING_FLAG_WITH_VALUE.test(flag)) i++;
    } else if (!(settings.built && SOURCE_CONDITION.test(flag))) {
      flags.push(flag);
    }
  }
  if (settings.profileDir !== undefined && profiled) {
    // A directory per process: its module-loader thread (tsx's hooks) writes a profile of its own.
    const dir = join(
      settings.profileDir,
      `${String(++profiles).padStart(2, '0')}-${name.replace(/\W+/g, '-')}`,
    );
    flags.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
  }
  return flags;
}
