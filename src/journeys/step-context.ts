import type { Dialect, EventsTx } from '../store/index.ts';
import type { JourneyDefinition, NodeOf, NodeType } from './definition.ts';
import type { JourneyEvents } from './sql.ts';

/**
 * What a node handler works with during one step of one node. The engine has put the instances
 * that are ready at the node into the temporary table `ready`; the handler decides their
 * branches by inserting `(instance_id, branch)` rows into the temporary table `moves`, all in the
 * engine's transaction, so a step either happens whole (with its outbox rows) or not at all.
 *
 * `ready` columns: instance_id, user_key, instance_key, entry_key, holdout, node_state (0 just arrived,
 * 1 waiting, 2 woken by an event), due_at, entered_at, node_entered_at, step_no,
 * trigger_props (JSON), trigger_total.
 */
export interface StepContext {
  tx: EventsTx;
  dialect: Dialect;
  workspaceId: number;
  journeyId: number;
  version: number;
  definition: JourneyDefinition;
  now: number;
  /** Events received after this instant are new since the previous tick (with an overlap). */
  newEventsSince: number;
  /** The property naming an instance's key when the journey has one instance per key (e.g. order_id); null if not keyed. */
  keyProperty: string | null;
  /**
   * Journey events of this transaction not written yet: the next insertJourneyEvents writes them
   * in its statement (the fast path's `Journey Entered` rides with its first step's events, a
   * statement fewer per event batch). Whoever fills it writes what is left before commit.
   */
  carried?: JourneyEvents[];
}

export interface NodeHandler<T extends NodeType> {
  /** The branches the node may take (each must be connected by an edge). */
  branches(node: NodeOf<T>): string[];
  /** Whether people may stay at this node across ticks; a cycle in the graph must pass such a node. */
  waits: boolean;
  /**
   * For nodes where everyone arriving simply waits a fixed time (a duration wait, the timeout of a
   * wait for an event): that time. Arrivals are then set waiting as they move in, saving a step
   * (and a whole-table UPDATE) per node.
   */
  waitOnArrival?(node: NodeOf<T>): number | null;
  /** Each tick, before any step: wake waiting instances that should move now (e.g. the awaited event came). */
  wake?(ctx: StepContext, node: NodeOf<T>): Promise<void>;
  /**
   * Decides the branches of the instances in `ready`: into `moves` (instances it leaves out stay at
   * the node), or, when everyone takes the same branch, by answering `everyone(branch)`.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a handler that writes `moves` returns nothing.
  step(ctx: StepContext, node: NodeOf<T>): Promise<void | EveryoneMoves>;
}

/**
 * A step's answer that every instance in `ready` takes one branch. No `moves` rows are written and
 * the step's writes read `ready` alone: at a million instances the moves table and its two joins
 * back to `ready` cost ~0.5 s, and in the event fast path a statement per node.
 */
export interface EveryoneMoves {
  everyone: string;
}

export const everyone = (branch: string): EveryoneMoves => ({ everyone: branch });

/** One handler per node type: a new node type does not compile until its handler exists. */
export type HandlerRegistry = { [T in NodeType]: NodeHandler<T> };

/** The instances in `ready` matching `where` (on alias r) take `branch` (when all of them do, answer `everyone(branch)`). */
export async function moveAll(ctx: StepContext, branch: string, where: string): Promise<void> {
  await ctx.tx.query(`INSERT INTO moves (instance_id, branch) SELECT r.instance_id, $1 FROM ready r WHERE ${where}`, [branch]);
}
