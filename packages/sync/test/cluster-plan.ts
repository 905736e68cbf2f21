import type { Intent } from '@driftless/crdt';
import type { Role } from '@driftless/sync';

/** What the cluster simulation runs: its topologies, and the writes it makes. */

/** Who dials whom: the four topologies of the design. */
export type Topology = 'mesh' | 'star' | 'tree' | 'ring';
export const TOPOLOGIES: readonly Topology[] = ['mesh', 'star', 'tree', 'ring'];

/** The nodes of a 5-node topology: ids, roles and the peers each dials. */
export function layout(topology: Topology, size = 5): { id: string; role: Role; dials: string[] }[] {
  const ids = Array.from({ length: size }, (_, i) => `n${i}`);
  return ids.map((id, i): { id: string; role: Role; dials: string[] } => {
    switch (topology) {
      case 'mesh':
        return { id, role: 'multi', dials: ids.filter((other) => other !== id) };
      case 'star':
        return i === 0 ? { id, role: 'primary', dials: [] } : { id, role: 'replica', dials: ['n0'] };
      case 'tree':
        // n0 ← n1, n2; n1 ← n3, n4 (a binary heap's layout): writes anywhere cascade through n0 and n1.
        return { id, role: 'multi', dials: i === 0 ? [] : [ids[Math.floor((i - 1) / 2)] as string] };
      default:
        return { id, role: 'multi', dials: [ids[(i + 1) % size] as string] }; // ring
    }
  });
}

/** A random write for the simulation: a collection and an intent on it, of every type. */
export function randomIntent(random: () => number): [string, Intent] {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const element = pick(['a', 'b', 'c']);
  switch (Math.floor(random() * 7)) {
    case 0:
      return ['reg', { kind: 'set', value: Math.floor(random() * 100) }];
    case 1:
      return ['doc', { kind: 'patch', patch: { [pick(['x', 'y'])]: pick([1, 'two', null, { z: 3 }]) } }];
    case 2:
      return ['cnt', { kind: 'incr', delta: pick([1, 2, -1]) }];
    case 3:
      return ['set', { kind: 'add', element }];
    case 4:
      return ['set', { kind: 'remove', element }];
    case 5:
      return [pick(['reg', 'doc', 'cnt', 'set']), { kind: 'del' }];
    default:
      return ['reg', { kind: 'set', value: { nested: [random() > 0.5] } }];
  }
}
