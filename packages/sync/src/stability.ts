/**
 * Causal stability: which ops every member of the cluster holds durably, so tombstones below it can
 * be collected (a delete is forgotten only once no replica can still send an op it must win over).
 *
 * Every node gossips the durable vectors it has heard of (REPORTS, on each heartbeat; a peer's ACK
 * is its own report). A member's report counts here only once this replica has applied everything
 * in it: an op concurrent with a delete was in its writer's vector before that writer saw the
 * delete, so it has arrived here before the writer's report counts. The stable vector is the meet
 * of the counted reports of every member; with a member never heard of, nothing is stable.
 *
 * Membership is configured, not discovered: a node nobody has heard of may hold ops concurrent with
 * any delete, so without a member list nothing is collected.
 */
import { VersionVector } from '@driftless/core';
import { MAX_REPORTS } from './protocol/messages.js';

/** Reports kept per member that this replica has not yet applied (older ones are dropped). */
const MAX_PENDING_REPORTS = 8;

interface MemberReports {
  /** The newest report this replica had applied everything of, when last checked. */
  counted: VersionVector | undefined;
  /** Newer reports, oldest first, not yet covered by this replica's vector. */
  pending: VersionVector[];
  /** The newest report heard (what is gossiped on). */
  latest: VersionVector;
}

/** What stability() tells. */
export interface StabilityStatus {
  /** The configured members (empty: collection is off). */
  readonly members: readonly string[];
  /** The causally stable vector, or undefined while some member's report is missing. */
  readonly stable: VersionVector | undefined;
  /** Members with no report counted yet. */
  readonly waitingFor: readonly string[];
}

/** The reports one node has heard; see the module comment. */
export class StabilityTracker {
  readonly #self: string;
  readonly #members: readonly string[];
  readonly #reports = new Map<string, MemberReports>();

  /** `members` lists every node of the cluster (this one included, or it is added). */
  constructor(self: string, members: readonly string[] = []) {
    this.#self = self;
    this.#members = members.length === 0 ? [] : [...new Set([self, ...members])].sort();
  }

  /** The configured members, sorted; empty when collection is off. */
  get members(): readonly string[] {
    return this.#members;
  }

  /** Records that `node` holds `vector` durably (a report, an ACK, or this node's own vector). */
  report(node: string, vector: VersionVector): void {
    const known = this.#reports.get(node);
    if (known === undefined) {
      if (this.#reports.size >= MAX_REPORTS && node !== this.#self) return;
      this.#reports.set(node, { counted: undefined, pending: [vector], latest: vector });
      return;
    }
    if (known.latest.dominates(vector)) return;
    known.latest = known.latest.merge(vector);
    known.pending.push(known.latest);
    if (known.pending.length > MAX_PENDING_REPORTS) known.pending.shift();
  }

  /** Every report heard, this node's first, for a REPORTS message. */
  reports(local: VersionVector): [string, VersionVector][] {
    this.report(this.#self, local);
    const out: [string, VersionVector][] = [[this.#self, local]];
    for (const [node, { latest }] of this.#reports) {
      if (node !== this.#self && out.length < MAX_REPORTS) out.push([node, latest]);
    }
    return out;
  }

  /** The stable vector against this replica's vector `local` (see StabilityStatus). */
  stability(local: VersionVector): StabilityStatus {
    this.report(this.#self, local);
    if (this.#members.length === 0) return { members: [], stable: undefined, waitingFor: [] };
    let stable: VersionVector | undefined;
    const waitingFor: string[] = [];
    for (const member of this.#members) {
      const counted = this.#count(member, local);
      if (counted === undefined) {
        waitingFor.push(member);
        continue;
      }
      stable = stable === undefined ? counted : stable.meet(counted);
    }
    return {
      members: this.#members,
      stable: waitingFor.length === 0 ? (stable ?? VersionVector.EMPTY).meet(local) : undefined,
      waitingFor,
    };
  }

  /** Promotes the newest pending report of `member` that `local` covers; returns the counted one. */
  #count(member: string, local: VersionVector): VersionVector | undefined {
    const reports = this.#reports.get(member);
    if (reports === undefined) return undefined;
    let newest = -1;
    for (let i = 0; i < reports.pending.length; i++) {
      if (local.dominates(reports.pending[i] as VersionVector)) newest = i;
    }
    if (newest >= 0) {
      reports.counted = reports.pending[newest];
      reports.pending = reports.pending.slice(newest + 1);
    }
    return reports.counted;
  }
}
