import type { ColumnSpec, Dialect, SqlExecutor } from '../../store/index.ts';
import { columnTypes } from '../../store/index.ts';

/**
 * The staging tables of one import: temporary tables of the import's own transaction (DuckDB
 * temp tables belong to the connection, PostgreSQL ones to the session), so two imports never
 * see each other's rows and a rollback leaves nothing behind.
 *
 * Every valid line becomes one `imp_ev` row keyed by its line number `n`, exactly the fields a
 * NormalizedEvent carries, whichever path validated it (SQL for the common shapes on DuckDB,
 * `normalizeEvent` for everything else); its identity claims go to `imp_claim` in claim order
 * (ord 0 is the person the event is about) and its line items to `imp_item`.
 */

export const evColumns: ColumnSpec[] = [
  { name: 'n', type: 'bigint' },
  /** NULL until the file hash is known: lines without a messageId get one derived from it. */
  { name: 'message_id', type: 'text' },
  { name: 'type', type: 'text' },
  { name: 'event', type: 'text' },
  { name: 'ts', type: 'bigint' },
  { name: 'sent_at', type: 'bigint' },
  { name: 'user_id', type: 'text' },
  { name: 'anonymous_id', type: 'text' },
  { name: 'order_id', type: 'text' },
  { name: 'total', type: 'double' },
  { name: 'currency', type: 'text' },
  { name: 'properties', type: 'json' },
  { name: 'context', type: 'json' },
  { name: 'integrations', type: 'json' },
  /** Normalised identify traits (identify only). */
  { name: 'traits', type: 'json' },
];

export const claimColumns: ColumnSpec[] = [
  { name: 'n', type: 'bigint' },
  /** Position in the event's claims; `lookupOrd` marks alias look-ups that are not claims. */
  { name: 'ord', type: 'int' },
  { name: 'type', type: 'text' },
  { name: 'value', type: 'text' },
];

export const itemColumns: ColumnSpec[] = [
  { name: 'n', type: 'bigint' },
  { name: 'ord', type: 'int' },
  { name: 'product_id', type: 'text' },
  { name: 'category', type: 'text' },
  { name: 'price', type: 'double' },
  { name: 'quantity', type: 'int' },
];

/**
 * resolveIdentities also looks an alias's previousId up as a user_id. That look-up joins the
 * alias to whoever holds that user_id, so it is staged as a pseudo-claim for the component
 * analysis, with an ord no real claim reaches.
 */
export const lookupOrd = 1000;

/** Every temporary table an import may create, dropped at the end whatever happened. */
export const tempTables = [
  'imp_raw',
  'imp_p',
  'imp_pi',
  'imp_tr',
  'imp_fast',
  'imp_ev',
  'imp_claim',
  'imp_item',
  'imp_single',
  'imp_dup',
  'imp_id',
  'imp_idc',
  'imp_ec',
  'imp_edge',
  'imp_lbl',
  'imp_evc',
  'imp_comp',
  'imp_cperson',
  'imp_xperson',
  'imp_xuser',
  'imp_xident',
  'imp_remap',
  'imp_tsrc',
  'imp_person',
  'imp_newuser',
  'imp_tall',
  'imp_traits',
] as const;
export type TempTable = (typeof tempTables)[number];

function ddl(dialect: Dialect, table: string, columns: readonly ColumnSpec[]): string {
  const t = columnTypes[dialect];
  return `CREATE TEMP TABLE ${table} (${columns.map((c) => `${c.name} ${t[c.type]}`).join(', ')})`;
}

export async function createStaging(tx: SqlExecutor, dialect: Dialect): Promise<void> {
  await dropStaging(tx);
  await tx.query(ddl(dialect, 'imp_ev', evColumns));
  await tx.query(ddl(dialect, 'imp_claim', claimColumns));
  await tx.query(ddl(dialect, 'imp_item', itemColumns));
}

export async function dropStaging(tx: SqlExecutor): Promise<void> {
  for (const t of tempTables) await tx.query(`DROP TABLE IF EXISTS ${t}`);
}

/** PostgreSQL plans temp tables without statistics (autovacuum never sees them) unless told. */
export async function analyze(tx: SqlExecutor, dialect: Dialect, ...tables: TempTable[]): Promise<void> {
  if (dialect !== 'postgres') return;
  for (const t of tables) await tx.query(`ANALYZE ${t}`);
}
