import { DAY } from '../../core/clock.ts';
import type { SqlExecutor } from '../../store/index.ts';
import { columnTypes } from '../../store/index.ts';
import { activeHourFirstDay } from './engagement.ts';
import type { TraitSources } from './sources.ts';
import type { TraitDialect } from './sql-dialect.ts';

const tempTables = ['ct_people', 'ct_events', 'ct_items', 'ct_tz_days'] as const;

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
  if (keys !== null) {
    await db.query(`CREATE TEMP TABLE ct_events (user_key ${t.bigint} NOT NULL, type ${t.text}, event ${t.text}, ts ${t.bigint} NOT NULL,
      order_id ${t.text}, total ${t.double}, properties ${t.json}, context ${t.json})`);
    await db.query(
      `INSERT INTO ct_events SELECT e.user_key, e.type, e.event, e.ts, e.order_id, e.total, e.properties, e.context
       FROM events e JOIN ct_people p ON p.user_key = e.user_key WHERE e.workspace_id = $1`,
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
       UNION SELECT ev.context ->> 'timezone' FROM ${src.events} ev JOIN ct_people p ON p.user_key = ev.user_key
         WHERE p.tz IS NULL AND ev.ts >= ${firstDay * DAY}) z
     CROSS JOIN generate_series(${firstDay}, ${lastDay}) AS d(day)
     WHERE z.tz IN (SELECT name FROM ${d.timeZoneNames})`,
    src.events.includes('$1') ? [workspaceId] : [],
  );
}
