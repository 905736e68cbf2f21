/** What replicator-streaming, -handshake and -catch-up.test.ts share: a node given its options and limits. */
import type { MemoryNetwork } from '../src/index.js';
import { type NodeSetup, type TestNode, node as testNode } from './test-nodes.js';

/** A node on the memory network (test-nodes.ts), given its Replicator options and transport limits. */
export const node = (
  network: MemoryNetwork,
  id: string,
  options: NodeSetup['options'] = {},
  limits: NodeSetup['limits'] = {},
): Promise<TestNode> => testNode(network, id, { options, limits });
