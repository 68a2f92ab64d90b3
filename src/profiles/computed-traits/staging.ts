import { DAY } from '../../core/clock.ts';
import type { SqlExecutor } from '../../store/index.ts';
import { columnTypes } from '../../store/index.ts';
import { PAID_ORDER_EVENT, RESPONSE_EVENTS, sqlList } from './definitions.ts';
import { activeHourFirstDay } from './engagement.ts';
import { jsonFields, type TraitSources } from './sources.ts';
import type { TraitDialect } from './sql-dialect.ts';

const tempTables = ['ct_people', 'ct_events', 'ct_items', 'ct_tz_days', 'ct_aff_cat', 'ct_aff_paths'] as const;

/** Drops the refresh's temporary tables (they live as long as the pooled connection). */
export async function dropStaging(db: SqlExecutor): Promise<void> {
  for (const t of tempTables) await db.query(`DROP TABLE IF EXISTS ${t}`);
}

/**
 * Fills the temporary tables a refresh reads: the people ($1 workspace, $2 keys when
 * incremental), their events when incremental, and the zone offsets for active_hour.
 * (CREATE … AS cannot take bind parameters on PostgreSQL, hence CREATE then INSERT.)
 */
export async function stage(
  db: SqlExecutor,
  d: TraitDialect,
  src: TraitSources,
  workspaceId: number,
  now: number,
  keys: readonly number[] | null,
): Promise<void> {
  const t = columnTypes[d.dialect];
  const params = keys === null ? [workspaceId] : [workspaceId, keys];
  const inKeys = keys === null ? '' : ' AND user_key IN (SELECT unnest($2::BIGINT[]))';
  await db.query(`CREATE TEMP TABLE ct_people (user_key ${t.bigint} NOT NULL, tz ${t.text})`);
  // A zone the database does not know would make its time functions fail: treat it as absent.
  await db.query(
    `INSERT INTO ct_people
     SELECT user_key, CASE WHEN traits ->> 'timezone' IN (SELECT name FROM ${d.timeZoneNames}) THEN traits ->> 'timezone' END
     FROM users WHERE workspace_id = $1 AND merged_into IS NULL${inKeys}`,
    params,
  );
  if (keys !== null) await stageEvents(db, d, workspaceId, now);
  const firstDay = activeHourFirstDay(now);
  const lastDay = Math.floor(now / DAY);
  await db.query(`CREATE TEMP TABLE ct_tz_days (tz ${t.text} NOT NULL, day ${t.bigint} NOT NULL, offset_ms ${t.bigint} NOT NULL)`);
  // Zones in use: people's traits, plus event contexts of people without one; offset at noon UTC.
  await db.query(
    `INSERT INTO ct_tz_days
     SELECT z.tz, d.day, CAST(${d.utcOffsetMinutes('(CAST(d.day AS BIGINT) * 86400000 + 43200000)', 'z.tz')} AS BIGINT) * 60000
     FROM (
       SELECT tz FROM ct_people WHERE tz IS NOT NULL
       UNION SELECT 'UTC'
       UNION SELECT ${src.fields.contextTz} FROM ${src.events} ev JOIN ct_people p ON p.user_key = ev.user_key
         WHERE p.tz IS NULL AND ev.ts >= ${firstDay * DAY}) z
     CROSS JOIN generate_series(${firstDay}, ${lastDay}) AS d(day)
     WHERE z.tz IN (SELECT name FROM ${d.timeZoneNames})`,
    src.events.includes('$1') ? [workspaceId] : [],
  );
}

/**
 * Incremental: copies the chosen people's events into `ct_events`, typed columns only, with the
 * three JSON values the traits need extracted on the way, each only on the rows that use it
 * (sources.ts names them), and their product lines into `ct_items`. Copying the JSON columns
 * themselves cost more than everything else; a join, not a per-CTE `IN`, because DuckDB would
 * push each CTE's `event = …` filter into its own scan of the whole table.
 */
async function stageEvents(db: SqlExecutor, d: TraitDialect, workspaceId: number, now: number): Promise<void> {
  const t = columnTypes[d.dialect];
  const json = jsonFields(d);
  await db.query(`CREATE TEMP TABLE ct_events (user_key ${t.bigint} NOT NULL, type ${t.text}, event ${t.text}, ts ${t.bigint} NOT NULL,
    order_id ${t.text}, total ${t.double}, coupon ${t.int}, channel ${t.text}, ctx_tz ${t.text})`);
  await db.query(
    `INSERT INTO ct_events
     SELECT ev.user_key, ev.type, ev.event, ev.ts, ev.order_id, ev.total,
       CASE WHEN ev.event = '${PAID_ORDER_EVENT}' THEN ${json.couponFlag} END,
       CASE WHEN ev.event IN ${sqlList(RESPONSE_EVENTS)} THEN ${json.channel} END,
       CASE WHEN p.tz IS NULL AND ev.ts >= ${activeHourFirstDay(now) * DAY} THEN ${json.contextTz} END
     FROM events ev JOIN ct_people p ON p.user_key = ev.user_key
     WHERE ev.workspace_id = $1`,
    [workspaceId],
  );
  await db.query(
    `CREATE TEMP TABLE ct_items (user_key ${t.bigint} NOT NULL, event ${t.text}, ts ${t.bigint} NOT NULL, category ${t.text})`,
  );
  await db.query(
    `INSERT INTO ct_items SELECT i.user_key, i.event, i.ts, i.category
     FROM event_items i JOIN ct_people p ON p.user_key = i.user_key WHERE i.workspace_id = $1`,
    [workspaceId],
  );
}
