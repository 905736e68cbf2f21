#!/usr/bin/env node
/**
 * The `driftless` executable: runs the CLI with the real process (stdout, stderr, stdin,
 * signals) and exits with its status.
 */
import { writeSync } from 'node:fs';
import { type CliHost, runCli } from './program.js';

// Synchronous writes: the status line of a short command must not be lost to process.exit, and
// the node's banner must be out before anyone reads it.
const write = (fd: number, text: string) => {
  try {
    writeSync(fd, `${text}\n`);
  } catch {
    // A closed pipe (`driftless status … | head`) is not an error of the command.
  }
};

const host: CliHost = {
  out: (text) => write(1, text),
  err: (text) => write(2, text),
  readStdin: async () => {
    let text = '';
    for await (const chunk of process.stdin.setEncoding('utf8')) text += chunk;
    return text;
  },
  stopSignal: () =>
    new Promise((resolve) => {
      const stop = (signal: NodeJS.Signals) => {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        // A second signal while closing gives up waiting.
        process.once('SIGTERM', () => process.exit(130));
        process.once('SIGINT', () => process.exit(130));
        resolve(signal);
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    }),
  isTTY: process.stdout.isTTY === true,
  selfCommand: [process.execPath, ...process.execArgv, process.argv[1] ?? ''],
};

// Exit once the command is done: keep-alive handles (an idle socket, a timer) must not hold it open.
process.exit(await runCli(process.argv.slice(2), host));
