import type { JourneyDefinition, JourneyNode, NodeType } from './definition.ts';
import { handlers } from './nodes/index.ts';
import { exitProperties, insertJourneyEvents, type JourneyEvents } from './sql.ts';
import type { NodeHandler, StepContext } from './step-context.ts';

/**
 * The instances a step is limited to: ids in [from, to), those one admission just created (the
 * event fast path steps only its own entrants, never people another tick is responsible for).
 */
export interface StepScope {
  from: number;
  to: number;
}

/** What a step did: how many moved, and how many arrived at each next node (finished ones are not counted there). */
export interface StepOutcome {
  moved: number;
  arrivals: Map<string, number>;
}

/**
 * One step of one node, in the caller's transaction (a journey's tick, or an event fast path),
 * optionally for the instances of `scope` only: the instances ready at the node (arrived, or whose
 * wait is over) go into `ready`; the node's handler decides their branches (into `moves`, or
 * everyone down one) and queues its outbox rows; then every move is applied at once — steps
 * recorded, journey-step events written, instances moved to the next node or, at the end of a
 * path, finished. A crash anywhere rolls the caller's transaction back, so the step is neither
 * skipped nor repeated. The `ready` and `moves` tables must exist (prepareScratchTables).
 */
export async function stepNode(ctx: StepContext, node: JourneyNode, scope?: StepScope): Promise<StepOutcome> {
  const { tx } = ctx;
  const params: (string | number)[] = [ctx.workspaceId, ctx.journeyId, ctx.version, node.id, ctx.now];
  const inScope = scope ? ' AND instance_id >= $6 AND instance_id < $7' : '';
  if (scope) params.push(scope.from, scope.to);
  await tx.query('DELETE FROM ready');
  const ready = await tx.execute(
    `INSERT INTO ready SELECT instance_id, user_key, instance_key, entry_key, holdout, node_state, due_at, entered_at, node_entered_at,
       step_no, trigger_props, trigger_total
     FROM journey_instances WHERE workspace_id = $1 AND journey_id = $2 AND version = $3 AND node_id = $4 AND status = 'active' AND due_at <= $5${inScope}`,
    params,
  );
  // `moves` is empty here: the step that wrote it last emptied it below, or its transaction rolled back.
  const decided = await (handlers[node.type] as NodeHandler<NodeType>).step(ctx, node as never);
  const moves = movesOf(ctx, node, decided ? decided.everyone : null);

  // Everyone down one branch: the count is the ready count, no query needed.
  const routes =
    moves.everyoneTo !== undefined
      ? [{ next_node: moves.everyoneTo, n: ready }]
      : await tx.query<{ next_node: string | null; n: number }>(
          `SELECT m.next_node, count(*) AS n FROM ${moves.routed} m GROUP BY m.next_node`,
        );
  const arrivals = new Map<string, number>();
  let moved = 0;
  let finished = 0;
  for (const r of routes) {
    moved += Number(r.n);
    if (r.next_node === null) finished += Number(r.n);
    else arrivals.set(r.next_node, Number(r.n));
  }
  if (moved > 0) await applyMoves(ctx, node, moves, { onward: moved - finished, finished });
  if (moves.everyoneTo === undefined) await tx.query('DELETE FROM moves');
  return { moved, arrivals };
}

async function applyMoves(ctx: StepContext, node: JourneyNode, moves: Moves, counts: { onward: number; finished: number }): Promise<void> {
  const { tx } = ctx;
  const ws = ctx.workspaceId;
  const { routed: m, moved } = moves;
  await tx.query(
    `INSERT INTO journey_steps (workspace_id, journey_id, version, instance_id, user_key, step_no, node_id, branch, next_node_id, holdout, stepped_at)
     SELECT $1, $2, $3, mv.instance_id, mv.user_key, mv.step_no + 1, $4, mv.branch, mv.next_node, mv.holdout, $5 FROM ${moved}`,
    [ws, ctx.journeyId, ctx.version, node.id, ctx.now],
  );
  const j = String(Number(ctx.journeyId));
  const events: JourneyEvents[] = [];
  // Leaving the entry node is what `Journey Entered` already said: no second event for it.
  if (node.type !== 'entry') {
    events.push({
      name: 'Journey Step',
      from: `(SELECT mv.user_key, mv.instance_id, mv.holdout, mv.branch, mv.next_node, 'j' || ${j} || '.i' || mv.instance_id || '.s' || (mv.step_no + 1) AS message_id FROM ${moved}) x`,
      params: [],
      properties: [
        ['journey_id', j],
        ['version', String(Number(ctx.version))],
        ['instance_id', 'x.instance_id'],
        ['node_id', `'${node.id}'`],
        ['node_type', `'${node.type}'`],
        ['branch', 'x.branch'],
        ['next_node_id', 'x.next_node'],
        ['holdout', 'x.holdout'],
      ],
    });
  }
  // A branch with no edge ends the instance: at an exit node on purpose, elsewhere at the end of its path.
  const reason = node.type === 'exit' ? 'exit_node' : 'end_of_path';
  const status = node.type === 'exit' ? 'exited' : 'completed';
  if (counts.finished > 0) {
    events.push({
      name: 'Journey Exited',
      from: `(SELECT mv.user_key, mv.instance_id, '${node.id}' AS node_id, 'j' || ${j} || '.i' || mv.instance_id || '.exit' AS message_id
        FROM ${moved} WHERE mv.next_node IS NULL) x`,
      params: [],
      properties: exitProperties(ctx.journeyId, `'${reason}'`),
    });
  }
  await insertJourneyEvents(tx, ctx, events);
  if (counts.onward > 0) {
    const arrival = arrivalSql(ctx, node);
    await tx.query(
      `UPDATE journey_instances SET node_id = m.next_node, node_state = ${arrival.state}, due_at = ${arrival.due}, node_entered_at = $2,
         step_no = step_no + 1
       FROM ${m} m WHERE journey_instances.workspace_id = $1 AND journey_instances.instance_id = m.instance_id AND m.next_node IS NOT NULL`,
      [ws, ctx.now],
    );
  }
  if (counts.finished === 0) return;
  await tx.query(
    `UPDATE journey_instances SET status = $3, exit_reason = $4, exited_at = $2, due_at = NULL, step_no = step_no + 1
     FROM ${m} m WHERE journey_instances.workspace_id = $1 AND journey_instances.instance_id = m.instance_id AND m.next_node IS NULL`,
    [ws, ctx.now, status, reason],
  );
}

/** The moves of a step as SQL: `routed`, a derived table; `moved`, the derived table `mv` of each move with its instance. */
interface Moves {
  /** (instance_id, branch, next_node), next_node NULL where the branch has no edge. */
  routed: string;
  /** Each ready instance's columns with its `branch` and `next_node`, aliased `mv`. */
  moved: string;
  /** When everyone takes one branch: the node it leads to (null: none, the path ends). */
  everyoneTo?: string | null;
}

/**
 * The step's moves: the `moves` rows the handler wrote, or everyone in `ready` down one branch
 * (`everyone`, not null), which needs no join. Node ids and branch names are validated names
 * (letters, digits, _ and -), safe to write as literals.
 */
function movesOf(ctx: StepContext, node: JourneyNode, everyone: string | null): Moves {
  const edges = ctx.definition.edges.filter((e) => e.from === node.id);
  if (everyone !== null) {
    const to = edges.find((e) => e.branch === everyone)?.to;
    const columns = `'${everyone}' AS branch, ${to === undefined ? 'CAST(NULL AS TEXT)' : `'${to}'`} AS next_node`;
    return {
      routed: `(SELECT instance_id, ${columns} FROM ready)`,
      // The constants in the SELECT list, not a one-row table joined: a cross product is a
      // pipeline more for DuckDB (~0.3 ms), in three statements of every step.
      moved: `(SELECT r.*, ${columns} FROM ready r) mv`,
      everyoneTo: to ?? null,
    };
  }
  const next =
    edges.length === 0 ? 'CAST(NULL AS TEXT)' : `CASE branch ${edges.map((e) => `WHEN '${e.branch}' THEN '${e.to}'`).join(' ')} END`;
  const routed = `(SELECT instance_id, branch, ${next} AS next_node FROM moves)`;
  return { routed, moved: `(SELECT r.*, m.branch, m.next_node FROM ${routed} m JOIN ready r ON r.instance_id = m.instance_id) mv` };
}

/**
 * State and due time of instances arriving at the next nodes (SQL over `m.next_node`, $2 = now):
 * at a node whose arrivals just wait a fixed time, already waiting until then; elsewhere, due now.
 */
function arrivalSql(ctx: StepContext, node: JourneyNode): { state: string; due: string } {
  const waits: [string, number][] = [];
  for (const e of ctx.definition.edges) {
    if (e.from !== node.id) continue;
    const ms = waitOnArrival(ctx.definition, e.to);
    if (ms !== null) waits.push([e.to, ms]);
  }
  if (waits.length === 0) return { state: '0', due: '$2' };
  const cases = (value: (ms: number) => string) => waits.map(([id, ms]) => `WHEN '${id}' THEN ${value(ms)}`).join(' ');
  return {
    state: `CASE m.next_node ${cases(() => '1')} ELSE 0 END`,
    due: `CASE m.next_node ${cases((ms) => `CAST($2 AS BIGINT) + ${Math.round(ms)}`)} ELSE $2 END`,
  };
}

/** A node of one version of a journey. */
export interface NodeRef {
  version: number;
  nodeId: string;
}

/**
 * Steps the nodes of `first`, then the nodes people arrived at in the pass before, until everyone
 * waits or has finished — a tick (after reading which nodes have someone ready) and an event fast
 * path (from its entrants' first node, within `scope`) alike. Arrivals at a fixed wait are not due
 * (unless it is zero). A wait that works out each arrival's wake-up time (a local time, a date
 * trait) may find it already past: with `readyNodes`, the store is then asked again which nodes
 * have someone ready; without, those arrivals wait for the next tick. Bounded, in case of a
 * zero-length wait loop. Returns how many instances moved.
 */
export async function stepThrough(
  contextOf: (version: number) => Promise<StepContext>,
  first: readonly NodeRef[],
  o: { scope?: StepScope; readyNodes?: () => Promise<NodeRef[]> } = {},
): Promise<number> {
  let frontier = first;
  let moved = 0;
  let bound = 2;
  for (let pass = 0; frontier.length > 0 && pass < bound; pass++) {
    const next = new Map<string, NodeRef>();
    let askAgain = false;
    for (const { version, nodeId } of frontier) {
      const ctx = await contextOf(version);
      bound = Math.max(bound, 2 + ctx.definition.nodes.length);
      const node = ctx.definition.nodes.find((n) => n.id === nodeId);
      if (!node) continue;
      const outcome = await stepNode(ctx, node, o.scope);
      moved += outcome.moved;
      const handler = handlers[node.type] as NodeHandler<NodeType>;
      if (handler.waits && handler.waitOnArrival?.(node as never) == null) askAgain = true;
      for (const to of outcome.arrivals.keys()) {
        const wait = waitOnArrival(ctx.definition, to);
        if (wait === null || wait <= 0) next.set(`${version}/${to}`, { version, nodeId: to });
      }
    }
    frontier = askAgain && o.readyNodes ? await o.readyNodes() : [...next.values()];
  }
  return moved;
}

/** How long people arriving at node `nodeId` simply wait (see NodeHandler.waitOnArrival), or null. */
export function waitOnArrival(definition: JourneyDefinition, nodeId: string): number | null {
  const node = definition.nodes.find((n) => n.id === nodeId)!;
  return (handlers[node.type] as NodeHandler<NodeType>).waitOnArrival?.(node as never) ?? null;
}
