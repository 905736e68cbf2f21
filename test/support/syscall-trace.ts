/**
 * Reads an `strace -f -y` log of a log-writer child and checks the order of its durability
 * syscalls on LMDB's data file against the acknowledgements it printed.
 *
 * LMDB commits by writing dirty pages, fdatasync-ing the data file, then writing the meta page
 * through a second descriptor opened O_DSYNC (durable when the write returns). An ack is honest
 * when, at the moment it is written, no page write is waiting for a sync and a meta write has
 * completed since the previous ack.
 */
export interface TraceVerdict {
  /** Acks printed while appends ran one at a time, and how many of them were premature. */
  readonly sequentialAcks: number;
  readonly prematureAcks: string[];
  /** Acks and data-file syncs while appends ran concurrently. */
  readonly concurrentAcks: number;
  readonly concurrentSyncs: number;
}

const LINE = /^(\d+)\s+(.*)$/;
const CALL = /^(\w+)\((\d+)<([^>]*)>/;

export function checkTrace(trace: string, dataFile: string): TraceVerdict {
  const dsyncFds = new Set<string>();
  const pending = new Map<string, { name: string; fd: string; path: string }>();
  let dirty = false;
  let committedSinceAck = false;
  let phase: 'sequential' | 'concurrent' = 'sequential';
  let sequentialAcks = 0;
  let concurrentAcks = 0;
  let concurrentSyncs = 0;
  const prematureAcks: string[] = [];

  const onStart = (name: string, fd: string, path: string, rest: string) => {
    if (path === dataFile && isWrite(name)) {
      if (!dsyncFds.has(fd)) dirty = true;
    } else if (fd === '1' && name === 'write') {
      const text = /"([^"]*)/.exec(rest)?.[1] ?? '';
      if (text.startsWith('phase concurrent')) phase = 'concurrent';
      if (!text.startsWith('ack ')) return;
      if (phase === 'concurrent') {
        concurrentAcks++;
        return;
      }
      sequentialAcks++;
      if (dirty || !committedSinceAck) prematureAcks.push(text.trim());
      committedSinceAck = false;
    }
  };
  const onEnd = (name: string, fd: string, path: string, result: string) => {
    if (path !== dataFile || !/= \d+/.test(result)) return;
    if (name === 'fdatasync' || name === 'fsync') {
      dirty = false;
      if (phase === 'concurrent') concurrentSyncs++;
    } else if (isWrite(name) && dsyncFds.has(fd) && !dirty) {
      committedSinceAck = true;
    }
  };

  for (const raw of trace.split('\n')) {
    const match = LINE.exec(raw);
    if (!match) continue;
    const [, pid = '', body = ''] = match;
    const opened = /^openat\(.*"([^"]+)", ([A-Z_|]+).*= (\d+)/.exec(body);
    if (opened) {
      if (opened[1] === dataFile && opened[2]?.includes('O_DSYNC')) dsyncFds.add(opened[3] ?? '');
      continue;
    }
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/.exec(body);
    if (resumed) {
      const call = pending.get(pid);
      pending.delete(pid);
      if (call) onEnd(call.name, call.fd, call.path, resumed[2] ?? '');
      continue;
    }
    const call = CALL.exec(body);
    if (!call) continue;
    const [, name = '', fd = '', path = ''] = call;
    onStart(name, fd, path, body);
    if (body.endsWith('<unfinished ...>')) pending.set(pid, { name, fd, path });
    else onEnd(name, fd, path, body);
  }
  return { sequentialAcks, prematureAcks, concurrentAcks, concurrentSyncs };
}

function isWrite(name: string): boolean {
  return (
    name === 'write' || name === 'pwrite64' || name === 'writev' || name === 'pwritev' || name === 'pwritev2'
  );
}
