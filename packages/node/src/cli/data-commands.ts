/**
 * The commands that read and write a running node through its HTTP API: get, put, patch, del,
 * incr, add, remove, list, status and promote. Each prints the node's JSON answer on one line
 * (status prints a table unless `--json`), so the output pipes into `jq`.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { type ApiRequest, callApi, nodeBaseUrl } from './api-client.js';
import { asStatusView, formatStatus } from './status-format.js';
import { UsageError } from './usage-error.js';

/** Where commands print. */
export interface CommandOutput {
  out(text: string): void;
  /** Reads all of standard input (for a `-` value). */
  readStdin(): Promise<string>;
}

interface WriteFlags {
  readonly ack?: string;
}

interface ReadFlags {
  readonly after?: string;
}

const ACK_HELP = 'wait for local | k (a number of peers) | all durable copies before answering';

/** Adds the data commands to `program`. */
export function addDataCommands(program: Command, output: CommandOutput): void {
  const call = async (
    url: string,
    request: () => Promise<ApiRequest> | ApiRequest,
    print: (output: CommandOutput, body: unknown) => void = printJson,
  ) => {
    const base = nodeBaseUrl(url);
    print(output, await callApi(base, await request()));
  };

  program
    .command('get')
    .description('read a key (add --after <token> to wait until the node has a write)')
    .argument('<url>', "the node's http:// URL")
    .argument('<collection>')
    .argument('<key>')
    .option('--after <token>', 'a token a write returned: wait until this node has applied it')
    .action((url: string, collection: string, key: string, flags: ReadFlags) =>
      call(url, () => ({ method: 'GET', path: keyPath(collection, key, { after: flags.after }) })),
    );

  program
    .command('list')
    .description('list the keys of a collection, in key order')
    .argument('<url>', "the node's http:// URL")
    .argument('<collection>')
    .option('--prefix <prefix>', 'only keys that start with this')
    .option('--limit <n>', 'at most this many keys')
    .option('--cursor <cursor>', 'the cursor a previous page returned')
    .option('--after <token>', 'a token a write returned: wait until this node has applied it')
    .action(
      (
        url: string,
        collection: string,
        flags: { prefix?: string; limit?: string; cursor?: string; after?: string },
      ) =>
        call(url, () => {
          if (flags.limit !== undefined && !/^[1-9]\d*$/.test(flags.limit)) {
            throw new UsageError(`invalid --limit ${JSON.stringify(flags.limit)}: use a positive number`);
          }
          return {
            method: 'GET',
            path: `/v1/c/${segment(collection)}${query({ prefix: flags.prefix, limit: flags.limit, cursor: flags.cursor, after: flags.after })}`,
          };
        }),
    );

  const write = (name: string, description: string, method: ApiRequest['method'], kind: WriteKind) => {
    const command = program
      .command(name)
      .description(description)
      .argument('<url>', "the node's http:// URL")
      .argument('<collection>')
      .argument('<key>');
    if (kind.value === 'required') command.argument('<json>', `${kind.label} as JSON ('-' reads stdin)`);
    if (kind.value === 'optional') command.argument('[n]', kind.label);
    command
      .option('--ack <mode>', ACK_HELP)
      .action(async (url: string, collection: string, key: string, ...rest: unknown[]) => {
        const [value, flags] = (kind.value === 'none' ? [undefined, rest[0]] : rest) as [
          string | undefined,
          WriteFlags,
        ];
        const ack = checkAck(flags.ack);
        await call(url, async () => ({
          method,
          path: keyPath(collection, key, { ack }, kind.suffix),
          ...(kind.body ? { body: kind.body(await readValue(value, output)) } : {}),
        }));
      });
  };

  write('put', 'set a key to a JSON value (last writer wins, or siblings in an mv collection)', 'PUT', {
    value: 'required',
    label: 'the value',
    body: (value) => value,
  });
  write('patch', 'merge fields into a document: concurrent edits of different fields all survive', 'PATCH', {
    value: 'required',
    label: 'the fields',
    body: (value) => {
      if (!value || typeof value !== 'object' || Array.isArray(value)) {
        throw new UsageError('a patch must be a JSON object, like \'{"name":"Ada"}\'');
      }
      return value;
    },
  });
  write('del', 'delete a key', 'DELETE', { value: 'none', label: '' });
  write('incr', 'add n (default 1, may be negative) to a counter', 'POST', {
    value: 'optional',
    label: 'how much to add (default 1)',
    suffix: 'incr',
    body: (value) => {
      const by = value ?? 1;
      if (!Number.isSafeInteger(by) || by === 0) {
        throw new UsageError(`invalid increment ${JSON.stringify(by)}: use a non-zero whole number`);
      }
      return { by };
    },
  });
  write('add', 'add an element to a set', 'POST', {
    value: 'required',
    label: 'the element',
    suffix: 'add',
    body: (element) => ({ element }),
  });
  write('remove', 'remove an element from a set', 'POST', {
    value: 'required',
    label: 'the element',
    suffix: 'remove',
    body: (element) => ({ element }),
  });

  program
    .command('status')
    .description("a node's vector, digest, conflicts, and each peer's state and lag")
    .argument('<url>', "the node's http:// URL")
    .option('--json', 'print the status as JSON (for scripts)')
    .action((url: string, flags: { json?: boolean }) =>
      call(
        url,
        () => ({ method: 'GET', path: '/v1/status' }),
        flags.json ? printJson : (out, body) => out.out(formatStatus(asStatusView(body))),
      ),
    );

  program
    .command('promote')
    .description('make a replica writable (a primary/replica failover)')
    .argument('<url>', "the node's http:// URL")
    .requiredOption('--secret-file <file>', 'the cluster secret, to authorise the promotion')
    .action((url: string, flags: { secretFile: string }) =>
      call(url, () => ({
        method: 'POST',
        path: '/v1/admin/promote',
        secret: readSecretText(flags.secretFile),
      })),
    );
}

interface WriteKind {
  readonly value: 'required' | 'optional' | 'none';
  readonly label: string;
  readonly suffix?: string;
  readonly body?: (value: unknown) => unknown;
}

function printJson(output: CommandOutput, body: unknown): void {
  output.out(JSON.stringify(body));
}

/** `--ack local | all | k`, checked; undefined when not given. */
export function checkAck(ack: string | undefined): string | undefined {
  if (ack === undefined || ack === 'local' || ack === 'all' || /^[1-9]\d{0,3}$/.test(ack)) return ack;
  throw new UsageError(`invalid --ack ${JSON.stringify(ack)}: use local, all, or a number of peers`);
}

/** Parses a JSON value from the command line (`-` reads stdin; for incr, a bare number). */
async function readValue(text: string | undefined, output: CommandOutput): Promise<unknown> {
  if (text === undefined) return undefined;
  const source = text === '-' ? await output.readStdin() : text;
  try {
    return JSON.parse(source);
  } catch {
    throw new UsageError(
      `${JSON.stringify(source.length > 40 ? `${source.slice(0, 40)}…` : source)} is not JSON: quote strings, like '"hello"'`,
    );
  }
}

/** The key's path, URL-escaped, with the query string. */
export function keyPath(
  collection: string,
  key: string,
  params: Record<string, string | undefined>,
  suffix?: string,
): string {
  return `/v1/c/${segment(collection)}/${segment(key)}${suffix ? `/${suffix}` : ''}${query(params)}`;
}

function segment(value: string): string {
  if (value === '') throw new UsageError('a collection or key must not be empty');
  return encodeURIComponent(value);
}

function query(params: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined) search.set(name, value);
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

/** A secret file's content: trailing newlines dropped; at least 16 bytes. */
export function readSecretText(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new UsageError(
      `cannot read the secret file ${file}: ${code === 'ENOENT' ? 'no such file' : ((error as Error).message ?? code)}`,
    );
  }
  const secret = text.replace(/[\r\n]+$/, '');
  if (Buffer.byteLength(secret) < 16) {
    throw new UsageError(
      `the secret in ${file} is too short: use at least 16 bytes (for example: openssl rand -hex 32 > ${file})`,
    );
  }
  return secret;
}
