/**
 * The `driftless` command line: every command, its flags, and how an error becomes one line on
 * stderr and an exit status (0 done, 1 failed, 2 wrong usage; see EXIT).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { addBenchCommand } from './bench-command.js';
import { addDataCommands } from './data-commands.js';
import { runDemo } from './demo.js';
import { runStart } from './start-command.js';
import {
  LOG_LEVELS,
  readConfigFile,
  resolveStartSettings,
  START_ROLES,
  type StartConfig,
  type StartFlags,
  type StartSettings,
} from './start-options.js';
import { CommandError, EXIT, UsageError } from './usage-error.js';

/** What the CLI talks to: its output streams, stdin, and the signals that stop a node. */
export interface CliHost {
  out(text: string): void;
  err(text: string): void;
  readStdin(): Promise<string>;
  /** Resolves with the name of the first SIGTERM or SIGINT. */
  stopSignal(): Promise<string>;
  /** True when stdout is a terminal (the demo redraws its table in place). */
  readonly isTTY: boolean;
  /** The command that runs this CLI: `[node, ...execArgv, entry]` (the demo spawns nodes with it). */
  readonly selfCommand: readonly string[];
}

/** Runs the CLI on `args` (without node and the script) and returns the exit status. */
export async function runCli(args: readonly string[], host: CliHost): Promise<number> {
  let status: number = EXIT.OK;
  const program = createProgram(host, (code) => {
    status = code;
  });
  try {
    await program.parseAsync([...args], { from: 'user' });
    return status;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT.OK;
      if (error.code === 'commander.help' || error.code === 'commander.executeSubCommandAsync') {
        return error.exitCode;
      }
      host.err(`driftless: ${error.message.replace(/^error: /, '')} (see driftless --help)`);
      return EXIT.USAGE;
    }
    if (error instanceof UsageError) {
      host.err(`driftless: ${error.message}`);
      return EXIT.USAGE;
    }
    if (error instanceof CommandError) {
      host.err(`driftless: ${error.message}`);
      return EXIT.FAILURE;
    }
    const code = (error as { code?: unknown } | null)?.code;
    host.err(
      `driftless: ${typeof code === 'string' ? `${code}: ` : ''}${error instanceof Error ? error.message : String(error)}`,
    );
    return EXIT.FAILURE;
  }
}

/** Reads `--config` (if given) and merges the flags over it. */
export function startSettingsOf(flags: StartFlags): StartSettings {
  let config: StartConfig = {};
  let baseDir = process.cwd();
  if (flags.config !== undefined) ({ config, baseDir } = readConfigFile(flags.config));
  return resolveStartSettings(flags, config, baseDir);
}

/** The commander program; `setStatus` receives the exit status of commands that choose one. */
export function createProgram(host: CliHost, setStatus: (status: number) => void): Command {
  const program = new Command('driftless')
    .description('Driftless: a multi-master replication engine. Run nodes, read and write them, watch them.')
    .version(packageVersion(), '-V, --version')
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (text) => host.out(text.replace(/\n$/, '')),
      writeErr: (text) => host.err(text.replace(/\n$/, '')),
      // runCli prints errors itself, as one line.
      outputError: () => {},
    });

  program
    .command('start')
    .description('run a node in the foreground (SIGTERM or Ctrl-C stops it gracefully)')
    .option('--id <node>', 'the node id: 1-64 characters from A-Z a-z 0-9 . _ -')
    .option('--data <dir>', 'the data directory (created if missing)')
    .option('--memory', 'keep everything in memory instead (lost when the node stops)')
    .option('--listen <host:port>', 'where to serve the API and peers (default 127.0.0.1:0: a free port)')
    .option('--peer <url>', "a peer's URL to dial; repeat for more", collect, [])
    .option(
      '--member <id>',
      'a node of the cluster; repeat for every node to let deleted keys be forgotten once all hold the delete',
      collect,
      [],
    )
    .addOption(new Option('--role <role>', 'multi (default), primary or replica').choices(START_ROLES))
    .option('--cluster <id>', 'the cluster id; nodes of different clusters refuse each other')
    .option('--secret-file <file>', 'the cluster secret (at least 16 bytes, the same on every node)')
    .option('--collection <name=mode>', 'lww (default) or mv (keep siblings) for a collection', collect, [])
    .option('--ack-timeout <ms>', 'how long an ack=k|all write waits for peers')
    .option('--read-timeout <ms>', 'how long a read with ?after= waits for the write')
    .option('--max-body <bytes>', 'the largest request body accepted')
    .addOption(new Option('--log-level <level>', 'log level (default info)').choices(LOG_LEVELS))
    .option('--no-metrics', 'do not serve /metrics (lag warnings are still logged)')
    .option('--lag-warn <seconds>', 'log a warning when a peer lags more than this (default 10, 0: never)')
    .option('--log-keep <seconds>', 'keep log entries at least this long, for change feeds (default 600)')
    .option(
      '--log-max-age <seconds>',
      'delete log entries older than this even if a peer lacks them (default 604800, 0: never)',
    )
    .option('--clock-offset-ms <ms>', 'fault injection: run the node clock this far off (negative: behind)')
    .option(
      '--clock-offset-file <file>',
      'fault injection: more clock offset ms, re-read when the file changes',
    )
    .option('--config <file.json>', 'read these settings from a JSON file; flags override it')
    .action(async (flags: StartFlags) => {
      setStatus(await runStart(startSettingsOf(flags), host));
    });

  addDataCommands(program, host);

  program
    .command('demo')
    .description('run a local 3-node cluster, write on every node, and watch it converge')
    .option('--keep', 'leave the cluster running afterwards (Ctrl-C stops it)')
    .option('--seconds <n>', 'how long to write (default 10)')
    .option('--dir <dir>', 'where the nodes keep their data (default: a new temporary directory)')
    .action(async (flags: { keep?: boolean; seconds?: string; dir?: string }) => {
      const seconds = flags.seconds === undefined ? undefined : Number(flags.seconds);
      if (seconds !== undefined && !(seconds > 0 && seconds <= 3600)) {
        throw new UsageError(
          `invalid --seconds ${JSON.stringify(flags.seconds)}: use a number from 0 to 3600`,
        );
      }
      setStatus(
        await runDemo(host, {
          keep: flags.keep ?? false,
          ...(seconds !== undefined ? { writeSeconds: seconds } : {}),
          ...(flags.dir !== undefined ? { dir: flags.dir } : {}),
        }),
      );
    });

  addBenchCommand(program, host, setStatus);

  return program;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function packageVersion(): string {
  try {
    // src/cli and dist/cli both sit two levels below the package.
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return manifest.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
