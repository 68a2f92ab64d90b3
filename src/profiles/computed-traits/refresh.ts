import { serialQueue } from '../../core/serial-queue.ts';
import { advisoryLock, type SqlExecutor, type Store } from '../../store/index.ts';
import { affinityColumns, affinityCtes, stageAffinity } from './category-affinity.ts';
import { activeHourCtes, channelCtes } from './engagement.ts';
import { getLifecycleRules, type LifecycleRules, lifecycleSql } from './lifecycle-rules.ts';
import { orderColumns, orderCtes } from './order-metrics.ts';
import { rescoreWorkspace } from './rfm.ts';
import { fullSources, stagedSources, type TraitSources } from './sources.ts';
import { type TraitDialect, traitDialect } from './sql-dialect.ts';
import { dropStaging, stage } from './staging.ts';

export interface RefreshOptions {
  /** Recompute only these people (e.g. those touched by recent events); absent: everybody. */
  userKeys?: readonly number[];
}

export interface RefreshResult {
  mode: 'full' | 'incremental';
  /** People whose row was rewritten. */
  people: number;
  /** Of those, people with at least one counted paid order. */
  buyers: number;
  /** Elapsed time (a monotonic timer, reported only). */
  durationMs: number;
}

/** Refreshes of one store run one at a time in this process: two would delete each other's rows. */
const serialized = serialQueue();

function insertSql(d: TraitDialect, src: TraitSources, rules: LifecycleRules, now: number): string {
  const orders = orderColumns(d);
  const stage = lifecycleSql(rules, now, (c) =>
    c === 'order_count' ? orders.order_count! : c === 'first_order_at' ? 'o.first_at' : 'o.last_at',
  );
  // RFM is left NULL here and scored over the whole population by rescoreWorkspace.
  const columns: [string, string][] = [
    ['workspace_id', 'CAST($1 AS INTEGER)'],
    ['user_key', 'p.user_key'],
    ...(['order_count', 'total_spend', 'avg_order_value', 'first_order_at', 'last_order_at', 'avg_days_between_orders'] as const).map(
      (c): [string, string] => [c, orders[c]!],
    ),
    ['rfm_recency', 'CAST(NULL AS INTEGER)'],
    ['rfm_frequency', 'CAST(NULL AS INTEGER)'],
    ['rfm_monetary', 'CAST(NULL AS INTEGER)'],
    ['rfm_score', 'CAST(NULL AS TEXT)'],
    ['lifecycle', stage],
    ...Object.entries(affinityColumns),
    ['preferred_channel', 'pc.channel'],
    ['active_hour', 'CAST(ah.hour AS INTEGER)'],
    ['discount_sensitivity', orders.discount_sensitivity!],
    ['computed_at', 'CAST($2 AS BIGINT)'],
  ];
  return `INSERT INTO computed_traits (${columns.map(([c]) => c).join(', ')})
  SELECT * FROM (
    WITH ${orderCtes(src)},
    ${affinityCtes(d)},
    ${channelCtes(src)},
    ${activeHourCtes(d, src, now)}
    SELECT ${columns.map(([c, expr]) => `${expr} AS ${c}`).join(',\n      ')}
    FROM ${src.people} p
    LEFT JOIN order_stats o ON o.user_key = p.user_key
    LEFT JOIN aff_top a_top ON a_top.user_key = p.user_key
    LEFT JOIN aff_mid a_mid ON a_mid.user_key = p.user_key
    LEFT JOIN aff_leaf a_leaf ON a_leaf.user_key = p.user_key
    LEFT JOIN aff_json a_json ON a_json.user_key = p.user_key
    LEFT JOIN pref_channel pc ON pc.user_key = p.user_key
    LEFT JOIN act_hour ah ON ah.user_key = p.user_key) t`;
}

/**
 * Fills `computed_traits` for every person of the workspace (full), or recomputes only
 * `options.userKeys` (incremental). Either way RFM scores and lifecycle stages of the whole
 * workspace are brought up to date afterwards, so an incremental refresh after new events leaves
 * the same table as a full refresh would at the same `now`. Set-at-a-time: a handful of
 * statements whatever the number of people. Keys of people merged into another are removed.
 */
export async function refreshComputedTraits(
  store: Store,
  workspaceId: number,
  now: number,
  options: RefreshOptions = {},
): Promise<RefreshResult> {
  return serialized(store, async () => {
    const started = performance.now();
    const keys = options.userKeys === undefined ? null : [...new Set(options.userKeys)];
    const d = traitDialect(store.dialect);
    const src = keys === null ? fullSources(d) : stagedSources;
    const rules = await getLifecycleRules(store, workspaceId);
    const counts = await store.session(async (session) => {
      await dropStaging(session);
      try {
        const touchesPeople = keys === null || keys.length > 0;
        if (touchesPeople) {
          await stage(session, d, src, workspaceId, now, keys);
          await stageAffinity(session, d, src, workspaceId, now);
        }
        return await session.transaction(async (tx) => {
          if (store.dialect === 'postgres')
            await tx.query('SELECT pg_advisory_xact_lock($1, $2)', [advisoryLock.computedTraits, workspaceId]);
          let written = { people: 0, buyers: 0 };
          if (touchesPeople) {
            const inKeys = keys === null ? '' : ' AND user_key IN (SELECT unnest($2::BIGINT[]))';
            await tx.query(
              `DELETE FROM computed_traits WHERE workspace_id = $1${inKeys}`,
              keys === null ? [workspaceId] : [workspaceId, keys],
            );
            await tx.query(insertSql(d, src, rules, now), [workspaceId, now]);
            written = await countWritten(tx, workspaceId);
          }
          await rescoreWorkspace(tx, workspaceId, rules, now);
          return written;
        });
      } finally {
        await dropStaging(session);
      }
    });
    return { mode: keys === null ? 'full' : 'incremental', ...counts, durationMs: Math.round(performance.now() - started) };
  });
}

/** Rows just written are exactly the staged people. */
async function countWritten(tx: SqlExecutor, workspaceId: number): Promise<{ people: number; buyers: number }> {
  const [row] = await tx.query<{ people: number; buyers: number | null }>(
    `SELECT count(*) AS people, sum(CASE WHEN c.order_count > 0 THEN 1 ELSE 0 END) AS buyers
     FROM computed_traits c JOIN ct_people p ON p.user_key = c.user_key WHERE c.workspace_id = $1`,
    [workspaceId],
  );
  return { people: Number(row?.people ?? 0), buyers: Number(row?.buyers ?? 0) };
}

/**
 * Re-evaluates lifecycle stages (and RFM scores) of the whole workspace without reading events,
 * e.g. right after the lifecycle rules changed, or on a timer as people age out of "new".
 */
export async function reapplyLifecycle(store: Store, workspaceId: number, now: number): Promise<void> {
  await serialized(store, async () => {
    const rules = await getLifecycleRules(store, workspaceId);
    await store.transaction(async (tx) => {
      if (store.dialect === 'postgres') await tx.query('SELECT pg_advisory_xact_lock($1, $2)', [advisoryLock.computedTraits, workspaceId]);
      await rescoreWorkspace(tx, workspaceId, rules, now);
    });
  });
}
