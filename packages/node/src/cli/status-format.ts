/**
 * `driftless status` as plain text: a header with the node's identity, vector, digest, op and
 * conflict counts, the log's retained ops and the peers holding them, then one row per peer (state;
 * lag in ops and log bytes not yet sent or durable, bytes queued, seconds; round-trip time).
 * Plain columns and no colour, so it reads the same on a terminal, in a pipe and in a log.
 */

/** The parts of GET /v1/status the CLI shows (the JSON of NodeStatus). */
export interface StatusView {
  readonly id: string;
  readonly role: string;
  readonly clusterId?: string;
  readonly url?: string;
  readonly vector: Readonly<Record<string, number>>;
  readonly digest: string;
  readonly ops?: { readonly written?: number; readonly applied?: number };
  /** Per collection, per kind; or totals per kind. */
  readonly conflicts?: unknown;
  readonly peers?: readonly PeerView[];
  /** The log's retention: retained ops, slots (ops each peer still needs) and unreached peers. */
  readonly log?: {
    readonly retainedOps?: number;
    readonly slots?: readonly { readonly node: string; readonly opsBehind: number }[];
    readonly unreached?: readonly string[];
  };
  /** Tombstone collection: members, the stable vector, who is waited for. */
  readonly tombstones?: {
    readonly members?: readonly string[];
    readonly stable?: Readonly<Record<string, number>> | null;
    readonly waitingFor?: readonly string[];
  };
  /** Set once a peer showed this node lost ops of its own origin: it refuses writes. */
  readonly rewound?: {
    readonly peer: string;
    readonly held: number;
    readonly own: number;
    readonly conflict?: number;
  };
}

/** One peer's row (the JSON of the sync PeerStatus). */
export interface PeerView {
  readonly nodeId?: string | null;
  readonly url?: string | null;
  readonly direction?: string;
  readonly state?: string;
  readonly role?: string | null;
  readonly opsNotSent?: number;
  readonly opsNotDurable?: number;
  readonly bytesNotSent?: number;
  readonly bytesNotDurable?: number;
  readonly bytesQueued?: number;
  readonly lagMs?: number;
  readonly rttMs?: number | null;
  readonly lastClose?: { readonly code: number; readonly reason: string } | null;
}

/** Throws unless `value` looks like a node's status. */
export function asStatusView(value: unknown): StatusView {
  const status = value as Partial<StatusView> | null;
  if (
    !status ||
    typeof status !== 'object' ||
    typeof status.id !== 'string' ||
    typeof status.digest !== 'string' ||
    typeof status.vector !== 'object'
  ) {
    throw new Error('the answer is not a Driftless node status');
  }
  return status as StatusView;
}

/** Conflict counts flattened to `collection kind count` triples (kind totals use collection `*`). */
export function conflictRows(conflicts: unknown): { collection: string; kind: string; count: number }[] {
  const rows: { collection: string; kind: string; count: number }[] = [];
  if (!conflicts || typeof conflicts !== 'object') return rows;
  for (const [name, value] of Object.entries(conflicts)) {
    if (typeof value === 'number') rows.push({ collection: '*', kind: name, count: value });
    else if (value && typeof value === 'object') {
      for (const [kind, count] of Object.entries(value)) {
        if (typeof count === 'number') rows.push({ collection: name, kind, count });
      }
    }
  }
  return rows;
}

/** The status as the plain text `driftless status` prints. */
export function formatStatus(status: StatusView): string {
  const lines: string[] = [];
  const header = [`node ${status.id}`, `role ${status.role}`];
  if (status.clusterId) header.push(`cluster ${status.clusterId}`);
  if (status.url) header.push(status.url);
  lines.push(header.join('   '));
  if (status.rewound) {
    const { peer, held, own, conflict } = status.rewound;
    const found =
      conflict === undefined
        ? `peer ${peer} holds this node's own ops up to seq ${held}, its log only to ${own}`
        : `peer ${peer} holds another op at seq ${conflict} of this node's own than its log does`;
    lines.push(
      `WRITES REFUSED: ${found} (data lost or restored from an older backup): restore its latest` +
        ' data, or start it afresh under a new node id',
    );
  }
  lines.push(`vector     ${formatVector(status.vector)}`);
  lines.push(`digest     ${status.digest}`);
  if (status.ops) {
    lines.push(`ops        written ${status.ops.written ?? 0}   applied ${status.ops.applied ?? 0}`);
  }
  const conflicts = conflictRows(status.conflicts).filter((row) => row.count > 0);
  const total = conflicts.reduce((sum, row) => sum + row.count, 0);
  lines.push(
    `conflicts  ${total}${total > 0 ? `   ${conflicts.map((r) => `${r.collection === '*' ? '' : `${r.collection}.`}${r.kind} ${r.count}`).join('   ')}` : ''}`,
  );
  if (status.log) {
    const held = [
      ...(status.log.slots ?? []).filter((slot) => slot.opsBehind > 0).map((s) => `${s.node} ${s.opsBehind}`),
      ...(status.log.unreached ?? []).map((url) => `${url} (never reached) all`),
    ];
    lines.push(
      `log        ${status.log.retainedOps ?? 0} ops retained${held.length > 0 ? `   held for: ${held.join('   ')}` : ''}`,
    );
  }
  const members = status.tombstones?.members ?? [];
  if (status.tombstones) {
    const waiting = status.tombstones.waitingFor ?? [];
    lines.push(
      members.length === 0
        ? 'deletes    kept forever (no --member list)'
        : waiting.length > 0
          ? `deletes    kept until every member is heard from: waiting for ${waiting.join(', ')}`
          : `deletes    forgotten below ${formatVector(status.tombstones.stable ?? {})}`,
    );
  }
  const peers = status.peers ?? [];
  lines.push('');
  if (peers.length === 0) {
    lines.push('no peers');
    return lines.join('\n');
  }
  lines.push(
    ...table(
      ['PEER', 'DIR', 'STATE', 'ROLE', 'NOT SENT', 'NOT DURABLE', 'QUEUED', 'LAG', 'RTT', 'LAST CLOSE'],
      peers.map((peer) => [
        peer.nodeId ?? peer.url ?? '?',
        peer.direction === 'inbound' ? 'in' : 'out',
        peer.state ?? '?',
        peer.role ?? '-',
        `${peer.opsNotSent ?? 0} / ${formatBytes(peer.bytesNotSent ?? 0)}`,
        `${peer.opsNotDurable ?? 0} / ${formatBytes(peer.bytesNotDurable ?? 0)}`,
        formatBytes(peer.bytesQueued ?? 0),
        formatSeconds((peer.lagMs ?? 0) / 1000),
        peer.rttMs === undefined || peer.rttMs === null ? '-' : `${peer.rttMs.toFixed(1)} ms`,
        peer.lastClose ? `${peer.lastClose.code} ${peer.lastClose.reason}` : '',
      ]),
      [4, 5, 6, 7, 8],
    ),
  );
  return lines.join('\n');
}

/** `{a: 3, b: 5}` as `a:3 b:5`, sorted by origin. */
export function formatVector(vector: Readonly<Record<string, number>>): string {
  const entries = Object.entries(vector).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.length === 0 ? '(empty)' : entries.map(([origin, seq]) => `${origin}:${seq}`).join(' ');
}

/** Bytes with a binary unit. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** Seconds with one decimal. */
export function formatSeconds(seconds: number): string {
  return `${seconds.toFixed(1)} s`;
}

/** Left-aligned columns (right-aligned for the indexes in `right`), two spaces apart. */
export function table(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  right: readonly number[] = [],
): string[] {
  const widths = head.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (right.includes(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)];
}
