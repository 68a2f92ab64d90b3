import { columnTypes, type Dialect, type Session } from '../store/index.ts';

/**
 * The scratch tables of enrolment and steps, made once per connection (`Session.once`): creating
 * them per tick or step cost more than the work on DuckDB, and even `CREATE … IF NOT EXISTS`
 * was three statements per event fast path. `candidates` and `ready` are emptied before each use,
 * `moves` after (most steps never write it; see stepNode).
 *
 * - `candidates`: who may enter, from any trigger. `ts` becomes the instance's entry time: for an
 *   event, when it happened — so a goal reached in the same moment (an order paid in the batch
 *   that placed it) still counts, even though the engine enrols a little later.
 * - `ready`: the instances a step takes (arrived at the node, or whose wait is over).
 * - `moves`: the branch the node's handler chose for each of them.
 */
export async function prepareScratchTables(session: Session, dialect: Dialect): Promise<void> {
  const t = columnTypes[dialect];
  await session.once(`CREATE TEMP TABLE IF NOT EXISTS candidates (user_key BIGINT NOT NULL, instance_key TEXT NOT NULL,
    entry_key TEXT NOT NULL, trigger_props ${t.json}, trigger_total DOUBLE PRECISION, ts BIGINT NOT NULL)`);
  await session.once(`CREATE TEMP TABLE IF NOT EXISTS ready (instance_id BIGINT, user_key BIGINT, instance_key TEXT, entry_key TEXT,
    holdout BOOLEAN, node_state INTEGER, due_at BIGINT, entered_at BIGINT, node_entered_at BIGINT, step_no INTEGER,
    trigger_props ${t.json}, trigger_total ${t.double})`);
  await session.once('CREATE TEMP TABLE IF NOT EXISTS moves (instance_id BIGINT NOT NULL, branch TEXT NOT NULL)');
}
