import { columnTypes } from './dialect.ts';
import type { Dialect, Store } from './port.ts';

/**
 * Versioned migrations, written once with per-engine type names. Indexes that only help
 * PostgreSQL's row store (DuckDB scans columns and keeps zone maps instead) are `postgresOnly`.
 * Never edit a released migration: add a new one.
 */
interface Migration {
  version: number;
  name: string;
  up(d: Dialect): string[];
}

const migrations: Migration[] = [
  {
    version: 1,
    name: 'workspaces, people, identities, events, catalog',
    up(d) {
      const t = columnTypes[d];
      const pgOnly = (sql: string) => (d === 'postgres' ? [sql] : []);
      return [
        `CREATE SEQUENCE workspace_id_seq START 1`,
        // Person keys are reserved in ranges (key-ranges.ts), not drawn one by one from a sequence.
        `CREATE TABLE key_ranges (name ${t.text} PRIMARY KEY, next_value ${t.bigint} NOT NULL)`,
        `INSERT INTO key_ranges (name, next_value) VALUES ('user_key', 1)`,
        `CREATE TABLE workspaces (
          workspace_id ${t.int} PRIMARY KEY,
          name ${t.text} NOT NULL UNIQUE,
          write_key ${t.text} NOT NULL UNIQUE,
          admin_key_hash ${t.text} NOT NULL,
          created_at ${t.bigint} NOT NULL)`,
        `CREATE TABLE users (
          workspace_id ${t.int} NOT NULL,
          user_key ${t.bigint} NOT NULL,
          created_at ${t.bigint} NOT NULL,
          updated_at ${t.bigint} NOT NULL,
          merged_into ${t.bigint},
          traits ${t.json} NOT NULL,
          PRIMARY KEY (workspace_id, user_key))`,
        `CREATE TABLE identities (
          workspace_id ${t.int} NOT NULL,
          type ${t.text} NOT NULL,
          value ${t.text} NOT NULL,
          user_key ${t.bigint} NOT NULL,
          created_at ${t.bigint} NOT NULL,
          PRIMARY KEY (workspace_id, type, value))`,
        ...pgOnly(`CREATE INDEX identities_by_user ON identities (workspace_id, user_key)`),
        `CREATE TABLE identity_merges (
          workspace_id ${t.int} NOT NULL,
          from_user_key ${t.bigint} NOT NULL,
          into_user_key ${t.bigint} NOT NULL,
          via_type ${t.text} NOT NULL,
          via_value ${t.text} NOT NULL,
          message_id ${t.text} NOT NULL,
          merged_at ${t.bigint} NOT NULL)`,
        `CREATE TABLE identity_conflicts (
          workspace_id ${t.int} NOT NULL,
          type ${t.text} NOT NULL,
          value ${t.text} NOT NULL,
          owner_user_key ${t.bigint} NOT NULL,
          claimant_user_key ${t.bigint} NOT NULL,
          resolution ${t.text} NOT NULL,
          message_id ${t.text} NOT NULL,
          recorded_at ${t.bigint} NOT NULL)`,
        `CREATE TABLE events (
          workspace_id ${t.int} NOT NULL,
          message_id ${t.text} NOT NULL,
          user_key ${t.bigint} NOT NULL,
          type ${t.text} NOT NULL,
          event ${t.text},
          ts ${t.bigint} NOT NULL,
          received_at ${t.bigint} NOT NULL,
          sent_at ${t.bigint},
          user_id ${t.text},
          anonymous_id ${t.text},
          order_id ${t.text},
          total ${t.double},
          currency ${t.text},
          product_id ${t.text},
          category ${t.text},
          source ${t.text} NOT NULL,
          properties ${t.json},
          context ${t.json},
          integrations ${t.json})`,
        ...pgOnly(`CREATE UNIQUE INDEX events_message_id ON events (workspace_id, message_id)`),
        ...pgOnly(`CREATE INDEX events_by_user ON events (workspace_id, user_key, ts)`),
        ...pgOnly(`CREATE INDEX events_by_name ON events (workspace_id, event, ts)`),
        ...pgOnly(`CREATE INDEX events_by_order ON events (workspace_id, order_id) WHERE order_id IS NOT NULL`),
        `CREATE TABLE event_items (
          workspace_id ${t.int} NOT NULL,
          message_id ${t.text} NOT NULL,
          user_key ${t.bigint} NOT NULL,
          event ${t.text} NOT NULL,
          ts ${t.bigint} NOT NULL,
          order_id ${t.text},
          product_id ${t.text} NOT NULL,
          category ${t.text},
          price ${t.double},
          quantity ${t.int})`,
        ...pgOnly(`CREATE INDEX event_items_by_user ON event_items (workspace_id, user_key, ts)`),
        ...pgOnly(`CREATE INDEX event_items_by_product ON event_items (workspace_id, product_id, ts)`),
        `CREATE TABLE products (
          workspace_id ${t.int} NOT NULL,
          product_id ${t.text} NOT NULL,
          name ${t.text} NOT NULL,
          category_path ${t.text} NOT NULL,
          category_top ${t.text},
          category_mid ${t.text},
          category_leaf ${t.text},
          price ${t.double},
          stock ${t.int},
          image_url ${t.text},
          properties ${t.json},
          updated_at ${t.bigint} NOT NULL,
          PRIMARY KEY (workspace_id, product_id))`,
      ];
    },
  },
];

export const latestVersion = Math.max(...migrations.map((m) => m.version));

/** Applies every migration newer than the store's version, each in its own transaction. */
export async function migrate(store: Store, now: number): Promise<number[]> {
  await store.query(
    `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name ${columnTypes[store.dialect].text} NOT NULL, applied_at BIGINT NOT NULL)`,
  );
  const rows = await store.query<{ version: number }>('SELECT version FROM schema_migrations');
  const applied = new Set(rows.map((r) => Number(r.version)));
  const done: number[] = [];
  for (const m of migrations) {
    if (applied.has(m.version)) continue;
    await store.transaction(async (tx) => {
      for (const sql of m.up(store.dialect)) await tx.query(sql);
      await tx.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, now]);
    });
    done.push(m.version);
  }
  return done;
}
