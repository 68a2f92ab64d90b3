import type { ErrorBody } from '../core/errors.ts';
import type { JourneyCondition, JourneyDefinition, JourneyNode, NodeType } from './definition.ts';
import { handlers } from './nodes/index.ts';
import type { NodeHandler } from './step-context.ts';

/** The branches a node may take, from its handler. */
export function branchesOf(node: JourneyNode): string[] {
  return (handlers[node.type] as NodeHandler<NodeType>).branches(node as never);
}

/** Whether people may stay at the node across ticks. */
export function nodeWaits(node: JourneyNode): boolean {
  return handlers[node.type].waits;
}

/**
 * Checks a definition's graph and returns every problem at once (empty: publishable):
 * unique node ids, exactly one entry, edges between existing nodes on existing branches, each
 * branch connected once, every node reachable from the entry, no cycle that does not pass
 * a wait (which could loop forever within one tick), and conditions naming nodes of the right type.
 */
export function graphProblems(def: JourneyDefinition): ErrorBody[] {
  const problems: ErrorBody[] = [];
  const problem = (message: string, path: string) => problems.push({ code: 'invalid_request', message, path });
  const byId = new Map<string, JourneyNode>();
  def.nodes.forEach((n, i) => {
    if (byId.has(n.id)) problem(`node id "${n.id}" is used twice`, `definition.nodes[${i}].id`);
    byId.set(n.id, n);
  });
  const entries = def.nodes.filter((n) => n.type === 'entry');
  if (entries.length !== 1) problem(`a journey needs exactly one entry node (found ${entries.length})`, 'definition.nodes');

  const out = new Map<string, Map<string, string>>();
  for (const [i, e] of def.edges.entries()) {
    const path = `definition.edges[${i}]`;
    const from = byId.get(e.from);
    if (!from) {
      problem(`edge from unknown node "${e.from}"`, `${path}.from`);
      continue;
    }
    if (!byId.has(e.to)) {
      problem(`edge to unknown node "${e.to}"`, `${path}.to`);
      continue;
    }
    if (byId.get(e.to)!.type === 'entry') {
      problem('no edge may lead into the entry node', `${path}.to`);
      continue;
    }
    const branches = branchesOf(from);
    if (!branches.includes(e.branch)) {
      const allowed = branches.length ? branches.map((b) => `"${b}"`).join(', ') : 'none (it ends the journey)';
      problem(`node "${e.from}" (${from.type}) has no branch "${e.branch}"; its branches: ${allowed}`, `${path}.branch`);
      continue;
    }
    const fromOut = out.get(e.from) ?? new Map<string, string>();
    if (fromOut.has(e.branch)) {
      problem(`branch "${e.branch}" of node "${e.from}" is connected twice`, `${path}.branch`);
      continue;
    }
    fromOut.set(e.branch, e.to);
    out.set(e.from, fromOut);
  }

  def.nodes.forEach((n, i) => {
    const branches = branchesOf(n);
    // A single "next" left open simply ends the path there; every branch of a split must lead somewhere.
    if (branches.length < 2) return;
    for (const b of branches) {
      if (!out.get(n.id)?.has(b)) problem(`branch "${b}" of node "${n.id}" is not connected`, `definition.nodes[${i}]`);
    }
  });

  const entry = entries[0];
  if (entry) {
    const reached = new Set<string>([entry.id]);
    const queue = [entry.id];
    while (queue.length > 0) {
      for (const to of out.get(queue.shift()!)?.values() ?? []) {
        if (!reached.has(to)) {
          reached.add(to);
          queue.push(to);
        }
      }
    }
    def.nodes.forEach((n, i) => {
      if (!reached.has(n.id)) problem(`node "${n.id}" cannot be reached from the entry`, `definition.nodes[${i}]`);
    });
  }

  const cycle = cycleWithoutWait(def, out, byId);
  if (cycle) problem(`the path ${cycle.join(' → ')} loops without a wait`, 'definition.edges');

  // "The coupon (message, recommendation) of node X" needs X to be such a node: with a typo the
  // condition would be false for everyone, silently.
  def.nodes.forEach((n, i) => {
    if (n.type !== 'condition') return;
    n.cases.forEach((c, k) => {
      const wanted = nodeTypeRead[c.when.kind];
      const id = 'node' in c.when ? c.when.node : undefined;
      if (wanted === undefined || id === undefined) return;
      const path = `definition.nodes[${i}].cases[${k}].when.node`;
      const target = byId.get(id);
      if (!target) problem(`no node "${id}"`, path);
      else if (target.type !== wanted) problem(`node "${id}" is a ${target.type} node; ${c.when.kind} reads a ${wanted} node`, path);
    });
  });
  return problems;
}

/** The type of node a condition of each kind may name (its outbox rows are what the condition reads). */
const nodeTypeRead: Partial<Record<JourneyCondition['kind'], NodeType>> = {
  coupon_used: 'coupon',
  message_clicked: 'send',
  recommendation_viewed: 'recommend',
};

/** A cycle among non-waiting nodes (depth-first search over the graph without wait nodes), or null. */
function cycleWithoutWait(def: JourneyDefinition, out: Map<string, Map<string, string>>, byId: Map<string, JourneyNode>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | null => {
    state.set(id, 'open');
    stack.push(id);
    for (const to of out.get(id)?.values() ?? []) {
      if (nodeWaits(byId.get(to)!)) continue;
      if (state.get(to) === 'open') return [...stack.slice(stack.indexOf(to)), to];
      if (!state.has(to)) {
        const found = visit(to);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(id, 'done');
    return null;
  };
  for (const n of def.nodes) {
    if (nodeWaits(n) || state.has(n.id)) continue;
    const found = visit(n.id);
    if (found) return found;
  }
  return null;
}
