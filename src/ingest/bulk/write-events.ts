import type { Dialect, SqlExecutor } from '../../store/index.ts';
import { columnTypes } from '../../store/index.ts';
import { personRowTables } from '../person-tables.ts';
import { analyze } from './staging.ts';

/**
 * Top-level merge of trait objects, the highest `prio` winning per key — what a sequence of
 * `{...a, ...b}` spreads gives. The one statement that differs per engine.
 */
function traitsMergeSql(dialect: Dialect): string {
  if (dialect === 'duckdb') {
    return `SELECT user_key, json_group_object(key, value) AS traits FROM (
              SELECT user_key, key, arg_max(value, prio) AS value FROM imp_tall, json_each(imp_tall.traits) GROUP BY user_key, key) x
            GROUP BY user_key`;
  }
  return `SELECT user_key, jsonb_object_agg(key, value) AS traits FROM (
            SELECT DISTINCT ON (user_key, key) user_key, key, value FROM imp_tall, jsonb_each(imp_tall.traits)
            ORDER BY user_key, key, prio DESC) x
          GROUP BY user_key`;
}

/**
 * Writes everything resolved so far into the real tables, each in one statement: merges of
 * stored people first (so they only touch rows that existed before), then traits, people,
 * identities, events and line items. Line items without a category take the catalog's, as
 * in the API.
 */
export async function writeEvents(tx: SqlExecutor, dialect: Dialect, workspaceId: number, now: number): Promise<number> {
  const json = columnTypes[dialect].json;
  const p = [workspaceId, now];
  await analyze(tx, dialect, 'imp_person', 'imp_newuser', 'imp_remap', 'imp_tsrc', 'imp_xident', 'imp_item');
  for (const table of personRowTables) {
    await tx.query(
      `UPDATE ${table} SET user_key = r.to_key FROM imp_remap r WHERE ${table}.workspace_id = $1 AND ${table}.user_key = r.from_key`,
      [workspaceId],
    );
  }
  await tx.query(
    'UPDATE users SET merged_into = r.into_key, updated_at = CAST($2 AS BIGINT) FROM imp_remap r WHERE users.workspace_id = $1 AND users.user_key = r.from_key',
    p,
  );

  // Trait sources: identify traits of the file (ranked by line), each touched person's own
  // traits (0) and those of stored people merged into them (negative, see mergePlan).
  await tx.query(
    `CREATE TEMP TABLE imp_tall AS
     SELECT p.user_key, e.n AS prio, e.traits FROM imp_ev e JOIN imp_person p ON p.n = e.n WHERE e.traits IS NOT NULL
     UNION ALL
     SELECT s.user_key, s.prio, u.traits FROM imp_tsrc s JOIN users u ON u.workspace_id = $1 AND u.user_key = s.src_key WHERE s.src_key <> s.user_key`,
    [workspaceId],
  );
  await tx.query(
    `INSERT INTO imp_tall
     SELECT u.user_key, 0, u.traits FROM users u
     WHERE u.workspace_id = $1 AND u.user_key IN (SELECT user_key FROM imp_tall UNION SELECT user_key FROM imp_tsrc)`,
    [workspaceId],
  );
  await tx.query(
    `CREATE TEMP TABLE imp_traits AS
     SELECT t.user_key, coalesce(o.traits, CAST('{}' AS ${json})) AS traits
     FROM (SELECT DISTINCT user_key FROM imp_tall UNION SELECT user_key FROM imp_tsrc) t
     LEFT JOIN (${traitsMergeSql(dialect)}) o ON o.user_key = t.user_key`,
  );
  await tx.query(
    'UPDATE users SET traits = t.traits, updated_at = CAST($2 AS BIGINT) FROM imp_traits t WHERE users.workspace_id = $1 AND users.user_key = t.user_key',
    p,
  );
  await tx.query(
    `INSERT INTO users (workspace_id, user_key, created_at, updated_at, merged_into, traits)
     SELECT CAST($1 AS INTEGER), n.user_key, CAST($2 AS BIGINT), CAST($2 AS BIGINT), NULL, coalesce(t.traits, CAST('{}' AS ${json}))
     FROM imp_newuser n LEFT JOIN imp_traits t ON t.user_key = n.user_key`,
    p,
  );
  await tx.query(
    `INSERT INTO identities (workspace_id, type, value, user_key, created_at)
     SELECT CAST($1 AS INTEGER), d.type, d.value, c.user_key, CAST($2 AS BIGINT) FROM imp_idc d JOIN imp_cperson c ON c.comp = d.comp
     WHERE d.stored_key IS NULL
     UNION ALL
     SELECT CAST($1 AS INTEGER), type, value, user_key, CAST($2 AS BIGINT) FROM imp_xident`,
    p,
  );

  // The one line item of single-product events, as its own narrow table: joined as a subquery,
  // DuckDB built its hash table on the wide event rows instead (1.6 s of a million-line import).
  await tx.query(
    `CREATE TEMP TABLE imp_single AS
     SELECT n, min(product_id) AS product_id, min(category) AS category FROM imp_item GROUP BY n HAVING count(*) = 1`,
  );
  await analyze(tx, dialect, 'imp_single');
  await tx.query(
    `INSERT INTO events (workspace_id, message_id, user_key, type, event, ts, received_at, sent_at, user_id, anonymous_id,
                         order_id, total, currency, product_id, category, source, properties, context, integrations)
     SELECT CAST($1 AS INTEGER), e.message_id, p.user_key, e.type, e.event, e.ts, CAST($2 AS BIGINT), e.sent_at, e.user_id, e.anonymous_id, e.order_id, e.total,
            e.currency, i.product_id, coalesce(i.category, c.category_path), 'import', e.properties, e.context, e.integrations
     FROM imp_ev e JOIN imp_person p ON p.n = e.n
     LEFT JOIN imp_single i ON i.n = e.n
     LEFT JOIN products c ON c.workspace_id = $1 AND c.product_id = i.product_id`,
    p,
  );
  await tx.query(
    `INSERT INTO event_items (workspace_id, message_id, user_key, event, ts, order_id, product_id, category, price, quantity)
     SELECT CAST($1 AS INTEGER), e.message_id, p.user_key, coalesce(e.event, e.type), e.ts, e.order_id, i.product_id,
            coalesce(i.category, c.category_path), i.price, i.quantity
     FROM imp_item i JOIN imp_ev e ON e.n = i.n JOIN imp_person p ON p.n = e.n
     LEFT JOIN products c ON c.workspace_id = $1 AND c.product_id = i.product_id`,
    [workspaceId],
  );
  const [row] = await tx.query<{ c: number }>('SELECT count(*) AS c FROM imp_ev');
  return Number(row?.c ?? 0);
}
