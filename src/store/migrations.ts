import { advisoryLock, whileLocked } from './advisory-locks.ts';
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
  {
    version: 2,
    name: 'segments, membership, computed traits, predictions',
    up(d) {
      const t = columnTypes[d];
      const pgOnly = (sql: string) => (d === 'postgres' ? [sql] : []);
      return [
        `INSERT INTO key_ranges (name, next_value) VALUES ('segment_id', 1)`,
        `CREATE TABLE segments (
          workspace_id ${t.int} NOT NULL,
          segment_id ${t.bigint} NOT NULL,
          name ${t.text} NOT NULL,
          description ${t.text},
          kind ${t.text} NOT NULL,
          definition ${t.json},
          refresh_mode ${t.text} NOT NULL,
          cron ${t.text},
          timezone ${t.text},
          status ${t.text} NOT NULL,
          created_at ${t.bigint} NOT NULL,
          updated_at ${t.bigint} NOT NULL,
          refreshed_at ${t.bigint},
          next_refresh_at ${t.bigint},
          events_watermark ${t.bigint},
          refresh_no ${t.bigint} NOT NULL,
          member_count ${t.bigint} NOT NULL,
          PRIMARY KEY (workspace_id, segment_id))`,
        // Current members. No primary key on DuckDB: its ART index makes bulk inserts slow and the
        // refresher (one writer) never inserts a member twice; PostgreSQL gets the unique index.
        `CREATE TABLE segment_members (
          workspace_id ${t.int} NOT NULL,
          segment_id ${t.bigint} NOT NULL,
          user_key ${t.bigint} NOT NULL,
          entered_at ${t.bigint} NOT NULL)`,
        ...pgOnly(`CREATE UNIQUE INDEX segment_members_pk ON segment_members (workspace_id, segment_id, user_key)`),
        // Every entry and exit, numbered by refresh: what journeys consume (cursor = refresh_no).
        `CREATE TABLE segment_changes (
          workspace_id ${t.int} NOT NULL,
          segment_id ${t.bigint} NOT NULL,
          refresh_no ${t.bigint} NOT NULL,
          user_key ${t.bigint} NOT NULL,
          change ${t.text} NOT NULL,
          changed_at ${t.bigint} NOT NULL)`,
        // Covers the refresher's reads of one refresh's exits/entries (a nested loop over a bare
        // (…, refresh_no) index took minutes on PostgreSQL when its statistics were stale).
        ...pgOnly(`CREATE INDEX segment_changes_by_refresh ON segment_changes (workspace_id, segment_id, refresh_no, change, user_key)`),
        // Product-line conditions ("an order in Phones in the last 90 days") scan event_items by event and time.
        ...pgOnly(`CREATE INDEX event_items_by_event ON event_items (workspace_id, event, ts)`),
        ...pgOnly(`CREATE INDEX events_by_received ON events (workspace_id, received_at)`),
        `CREATE TABLE computed_traits (
          workspace_id ${t.int} NOT NULL,
          user_key ${t.bigint} NOT NULL,
          order_count ${t.int} NOT NULL,
          total_spend ${t.double} NOT NULL,
          avg_order_value ${t.double},
          first_order_at ${t.bigint},
          last_order_at ${t.bigint},
          avg_days_between_orders ${t.double},
          rfm_recency ${t.int},
          rfm_frequency ${t.int},
          rfm_monetary ${t.int},
          rfm_score ${t.text},
          lifecycle ${t.text} NOT NULL,
          favourite_top_category ${t.text},
          favourite_mid_category ${t.text},
          favourite_category ${t.text},
          category_affinity ${t.json},
          preferred_channel ${t.text},
          active_hour ${t.int},
          discount_sensitivity ${t.double},
          computed_at ${t.bigint} NOT NULL)`,
        ...pgOnly(`CREATE UNIQUE INDEX computed_traits_pk ON computed_traits (workspace_id, user_key)`),
        `CREATE TABLE customer_predictions (
          workspace_id ${t.int} NOT NULL,
          user_key ${t.bigint} NOT NULL,
          repeat_purchases ${t.int} NOT NULL,
          recency_days ${t.double} NOT NULL,
          age_days ${t.double} NOT NULL,
          p_alive ${t.double} NOT NULL,
          expected_purchases_30d ${t.double} NOT NULL,
          expected_purchases_90d ${t.double} NOT NULL,
          expected_next_order_at ${t.bigint},
          computed_at ${t.bigint} NOT NULL)`,
        ...pgOnly(`CREATE UNIQUE INDEX customer_predictions_pk ON customer_predictions (workspace_id, user_key)`),
        `CREATE TABLE prediction_models (
          workspace_id ${t.int} NOT NULL,
          model ${t.text} NOT NULL,
          params ${t.json} NOT NULL,
          customers ${t.int} NOT NULL,
          log_likelihood ${t.double},
          fitted_at ${t.bigint} NOT NULL,
          PRIMARY KEY (workspace_id, model))`,
        `CREATE TABLE repurchase_cycles (
          workspace_id ${t.int} NOT NULL,
          level ${t.text} NOT NULL,
          item ${t.text} NOT NULL,
          median_days ${t.double} NOT NULL,
          p25_days ${t.double} NOT NULL,
          p75_days ${t.double} NOT NULL,
          buyers ${t.int} NOT NULL,
          intervals ${t.int} NOT NULL,
          computed_at ${t.bigint} NOT NULL,
          PRIMARY KEY (workspace_id, level, item))`,
        // Per-workspace settings documents (e.g. lifecycle rules), validated by their owners' schemas.
        `CREATE TABLE workspace_settings (
          workspace_id ${t.int} NOT NULL,
          key ${t.text} NOT NULL,
          value ${t.json} NOT NULL,
          updated_at ${t.bigint} NOT NULL,
          PRIMARY KEY (workspace_id, key))`,
        // Cursors of background jobs (e.g. the computed-traits refresher's event watermark).
        `CREATE TABLE job_state (
          workspace_id ${t.int} NOT NULL,
          job ${t.text} NOT NULL,
          watermark ${t.bigint},
          ran_at ${t.bigint} NOT NULL,
          PRIMARY KEY (workspace_id, job))`,
      ];
    },
  },
  {
    version: 3,
    name: 'journeys, instances, steps, outbox',
    up(d) {
      const t = columnTypes[d];
      const pgOnly = (sql: string) => (d === 'postgres' ? [sql] : []);
      return [
        `INSERT INTO key_ranges (name, next_value) VALUES ('journey_id', 1), ('journey_instance', 1)`,
        // `draft` is the definition being edited; `version` the latest published one (0: never published).
        // Cursors: entry_cursor (segment refresh_no or event received_at), next_fire_at (schedules),
        // events_watermark (goal and wait-for-event checks read events received after it).
        `CREATE TABLE journeys (
          workspace_id ${t.int} NOT NULL,
          journey_id ${t.bigint} NOT NULL,
          name ${t.text} NOT NULL,
          description ${t.text},
          status ${t.text} NOT NULL,
          draft ${t.json} NOT NULL,
          version ${t.int} NOT NULL,
          created_at ${t.bigint} NOT NULL,
          updated_at ${t.bigint} NOT NULL,
          published_at ${t.bigint},
          entry_cursor ${t.bigint},
          next_fire_at ${t.bigint},
          events_watermark ${t.bigint},
          PRIMARY KEY (workspace_id, journey_id))`,
        `CREATE TABLE journey_versions (
          workspace_id ${t.int} NOT NULL,
          journey_id ${t.bigint} NOT NULL,
          version ${t.int} NOT NULL,
          definition ${t.json} NOT NULL,
          published_at ${t.bigint} NOT NULL,
          PRIMARY KEY (workspace_id, journey_id, version))`,
        // One row per person (or key) in a journey. node_state: 0 just arrived, 1 waiting, 2 woken by an event.
        // entry_key names what enrolled it (an event, a segment refresh, a schedule run, an API call):
        // the unique index makes entry exactly-once however often a trigger is read.
        `CREATE TABLE journey_instances (
          workspace_id ${t.int} NOT NULL,
          journey_id ${t.bigint} NOT NULL,
          version ${t.int} NOT NULL,
          instance_id ${t.bigint} NOT NULL,
          user_key ${t.bigint} NOT NULL,
          instance_key ${t.text} NOT NULL,
          entry_key ${t.text} NOT NULL,
          holdout ${t.bool} NOT NULL,
          status ${t.text} NOT NULL,
          node_id ${t.text},
          node_state ${t.int} NOT NULL,
          due_at ${t.bigint},
          entered_at ${t.bigint} NOT NULL,
          node_entered_at ${t.bigint} NOT NULL,
          step_no ${t.int} NOT NULL,
          trigger_props ${t.json},
          trigger_total ${t.double},
          exited_at ${t.bigint},
          exit_reason ${t.text},
          revenue ${t.double})`,
        `CREATE UNIQUE INDEX journey_instances_entry ON journey_instances (workspace_id, journey_id, entry_key)`,
        ...pgOnly(`CREATE UNIQUE INDEX journey_instances_pk ON journey_instances (instance_id)`),
        ...pgOnly(
          `CREATE INDEX journey_instances_ready ON journey_instances (workspace_id, journey_id, node_id, due_at) WHERE status = 'active'`,
        ),
        ...pgOnly(`CREATE INDEX journey_instances_by_user ON journey_instances (workspace_id, journey_id, user_key)`),
        // The engine's "which journeys have anyone due?" question, asked every tick.
        ...pgOnly(`CREATE INDEX journey_instances_due ON journey_instances (workspace_id, due_at) WHERE status = 'active'`),
        // Every step an instance took: the node it left, the branch, where it went. Counts and paths read this.
        `CREATE TABLE journey_steps (
          workspace_id ${t.int} NOT NULL,
          journey_id ${t.bigint} NOT NULL,
          version ${t.int} NOT NULL,
          instance_id ${t.bigint} NOT NULL,
          user_key ${t.bigint} NOT NULL,
          step_no ${t.int} NOT NULL,
          node_id ${t.text} NOT NULL,
          branch ${t.text},
          next_node_id ${t.text},
          holdout ${t.bool} NOT NULL,
          stepped_at ${t.bigint} NOT NULL)`,
        ...pgOnly(`CREATE INDEX journey_steps_by_journey ON journey_steps (workspace_id, journey_id, node_id)`),
        ...pgOnly(`CREATE INDEX journey_steps_by_instance ON journey_steps (instance_id, step_no)`),
        // What journeys decided to send or do, with its idempotency key, for the dispatcher (and the sandbox).
        `CREATE TABLE outbox (
          workspace_id ${t.int} NOT NULL,
          message_key ${t.text} NOT NULL,
          journey_id ${t.bigint} NOT NULL,
          version ${t.int} NOT NULL,
          instance_id ${t.bigint} NOT NULL,
          node_id ${t.text} NOT NULL,
          user_key ${t.bigint} NOT NULL,
          action ${t.text} NOT NULL,
          channel ${t.text},
          template ${t.text},
          payload ${t.json} NOT NULL,
          status ${t.text} NOT NULL,
          created_at ${t.bigint} NOT NULL)`,
        `CREATE UNIQUE INDEX outbox_message_key ON outbox (workspace_id, message_key)`,
        ...pgOnly(`CREATE INDEX outbox_by_instance ON outbox (instance_id)`),
        ...pgOnly(`CREATE INDEX outbox_pending ON outbox (workspace_id, created_at) WHERE status = 'queued'`),
      ];
    },
  },
  {
    version: 4,
    name: 'message templates and partials',
    up(d) {
      const t = columnTypes[d];
      return [
        // `definition` is the whole validated template (messaging/templates/schema.ts); `channel` is repeated for listing by channel.
        `CREATE TABLE templates (
          workspace_id ${t.int} NOT NULL,
          name ${t.text} NOT NULL,
          channel ${t.text} NOT NULL,
          definition ${t.json} NOT NULL,
          created_at ${t.bigint} NOT NULL,
          updated_at ${t.bigint} NOT NULL,
          PRIMARY KEY (workspace_id, name))`,
        // Shared Liquid snippets, rendered by name ({% render 'footer' %}); the sandbox reads them from here, never from disk.
        `CREATE TABLE template_partials (
          workspace_id ${t.int} NOT NULL,
          name ${t.text} NOT NULL,
          source ${t.text} NOT NULL,
          created_at ${t.bigint} NOT NULL,
          updated_at ${t.bigint} NOT NULL,
          PRIMARY KEY (workspace_id, name))`,
      ];
    },
  },
  {
    version: 5,
    name: 'message delivery, channel providers, subscriptions, messaging settings',
    up(d) {
      const t = columnTypes[d];
      const pgOnly = (sql: string) => (d === 'postgres' ? [sql] : []);
      const add = (column: string) => `ALTER TABLE outbox ADD COLUMN ${column}`;
      return [
        // Delivery state of each queued message (status: queued → claimed → sending → sent → delivered,
        // or skipped / failed / unknown). `attempts` counts provider calls, recorded before each call.
        add(`attempts ${t.int} DEFAULT 0`),
        add(`next_attempt_at ${t.bigint}`),
        add(`transactional ${t.bool} DEFAULT FALSE`),
        add(`provider ${t.text}`),
        add(`address ${t.text}`),
        add(`content ${t.json}`),
        add(`provider_message_id ${t.text}`),
        add(`reason ${t.text}`),
        add(`sent_at ${t.bigint}`),
        add(`clicked_at ${t.bigint}`),
        add(`updated_at ${t.bigint}`),
        `UPDATE outbox SET status = 'issued' WHERE action = 'coupon'`,
        ...pgOnly(`DROP INDEX outbox_pending`),
        ...pgOnly(
          `CREATE INDEX outbox_due ON outbox (workspace_id, COALESCE(next_attempt_at, created_at)) WHERE status IN ('queued', 'claimed', 'sending')`,
        ),
        ...pgOnly(`CREATE INDEX outbox_by_user ON outbox (workspace_id, user_key, sent_at)`),
        ...pgOnly(`CREATE INDEX outbox_by_provider_id ON outbox (workspace_id, provider_message_id) WHERE provider_message_id IS NOT NULL`),
        // Which provider delivers each channel of a workspace, and its settings (validated per provider).
        `CREATE TABLE channel_providers (
          workspace_id ${t.int} NOT NULL,
          channel ${t.text} NOT NULL,
          provider ${t.text} NOT NULL,
          config ${t.json} NOT NULL,
          rate_per_second ${t.double},
          updated_at ${t.bigint} NOT NULL,
          PRIMARY KEY (workspace_id, channel))`,
        // Consent and opt-outs per channel and topic; topic '*' is the whole channel (a hard opt-out
        // when unsubscribed: not even transactional messages go out).
        `CREATE TABLE subscriptions (
          workspace_id ${t.int} NOT NULL,
          user_key ${t.bigint} NOT NULL,
          channel ${t.text} NOT NULL,
          topic ${t.text} NOT NULL,
          subscribed ${t.bool} NOT NULL,
          source ${t.text} NOT NULL,
          updated_at ${t.bigint} NOT NULL,
          PRIMARY KEY (workspace_id, user_key, channel, topic))`,
        // Contact rules of a workspace (caps, quiet hours, consent, fallback…) and its link-signing secret.
        `CREATE TABLE messaging_settings (
          workspace_id ${t.int} PRIMARY KEY,
          settings ${t.json} NOT NULL,
          link_secret ${t.text} NOT NULL,
          updated_at ${t.bigint} NOT NULL)`,
      ];
    },
  },
  // Issue 6, commerce. Each block belongs to one module (src/commerce/<module>/); edit only its own.
  {
    version: 6,
    name: 'coupon campaigns, codes and redemptions',
    up(d) {
      const t = columnTypes[d];
      const pgOnly = (sql: string) => (d === 'postgres' ? [sql] : []);
      return [
        `INSERT INTO key_ranges (name, next_value) VALUES ('coupon_campaign_id', 1)`,
        // `definition` is the validated campaign (commerce/coupons/schema.ts). Journeys name campaigns, so the
        // name is unique and never changes; `adhoc` marks campaigns a journey's coupon node made up inline.
        `CREATE TABLE coupon_campaigns (
          workspace_id ${t.int} NOT NULL,
          campaign_id ${t.bigint} NOT NULL,
          name ${t.text} NOT NULL,
          definition ${t.json} NOT NULL,
          status ${t.text} NOT NULL,
          adhoc ${t.bool} NOT NULL,
          created_at ${t.bigint} NOT NULL,
          updated_at ${t.bigint} NOT NULL,
          PRIMARY KEY (workspace_id, campaign_id))`,
        `CREATE UNIQUE INDEX coupon_campaigns_name ON coupon_campaigns (workspace_id, name)`,
        // One row per code a person holds, with the terms frozen at issue (editing a campaign never changes
        // what people were given). state: issued → reminded → redeemed, or expired.
        // person_seq numbers a person's codes of a campaign (1, 2, … up to its per-person limit): the unique
        // index is what keeps concurrent journey steps from giving one person more codes than the limit.
        // issue_key (the outbox message key, or 'api.' + an idempotency key) makes issuing exactly-once.
        `CREATE TABLE coupon_codes (
          workspace_id ${t.int} NOT NULL,
          code ${t.text} NOT NULL,
          campaign_id ${t.bigint} NOT NULL,
          user_key ${t.bigint} NOT NULL,
          person_seq ${t.int},
          issue_key ${t.text} NOT NULL,
          journey_id ${t.bigint},
          instance_id ${t.bigint},
          node_id ${t.text},
          kind ${t.text} NOT NULL,
          value ${t.double} NOT NULL,
          max_discount ${t.double},
          min_spend ${t.double} NOT NULL,
          cost ${t.double} NOT NULL,
          issued_at ${t.bigint} NOT NULL,
          valid_from ${t.bigint} NOT NULL,
          expires_at ${t.bigint} NOT NULL,
          state ${t.text} NOT NULL,
          reminded_at ${t.bigint},
          expired_at ${t.bigint},
          redeemed_at ${t.bigint},
          redeemed_via ${t.text},
          redeemed_by ${t.bigint},
          redemption_key ${t.text},
          order_id ${t.text},
          order_total ${t.double},
          discount ${t.double},
          store_id ${t.text},
          PRIMARY KEY (workspace_id, code))`,
        `CREATE UNIQUE INDEX coupon_codes_issue ON coupon_codes (workspace_id, issue_key)`,
        `CREATE UNIQUE INDEX coupon_codes_person ON coupon_codes (workspace_id, campaign_id, user_key, person_seq)`,
        ...pgOnly(`CREATE INDEX coupon_codes_by_user ON coupon_codes (workspace_id, user_key)`),
        ...pgOnly(`CREATE INDEX coupon_codes_open ON coupon_codes (workspace_id, expires_at) WHERE state IN ('issued', 'reminded')`),
        ...pgOnly(`CREATE INDEX coupon_codes_unattributed ON coupon_codes (workspace_id, order_id) WHERE order_total IS NULL`),
        // Uploaded codes waiting to be issued; a code leaves the pool by appearing in coupon_codes.
        `CREATE TABLE coupon_pool (
          workspace_id ${t.int} NOT NULL,
          code ${t.text} NOT NULL,
          campaign_id ${t.bigint} NOT NULL,
          uploaded_at ${t.bigint} NOT NULL,
          PRIMARY KEY (workspace_id, code))`,
        ...pgOnly(`CREATE INDEX coupon_pool_by_campaign ON coupon_pool (workspace_id, campaign_id, uploaded_at, code)`),
      ];
    },
  },
  {
    version: 7,
    name: 'members, tiers and the points ledger',
    up(d) {
      const t = columnTypes[d];
      const pgOnly = (sql: string) => (d === 'postgres' ? [sql] : []);
      return [
        // Sequences, not key_ranges: ledger entries are written one statement at a time and never in bulk bursts.
        `CREATE SEQUENCE points_entry_seq START 1`,
        `CREATE SEQUENCE points_campaign_seq START 1`,
        // One row per member: status, tier and the points balance. The balance row is what a debit
        // locks (PostgreSQL) and the CHECK makes a transaction that would take it below 0 fail.
        // assigned_tier: a tier given at joining, a floor for the rules. traits_synced_at: when the
        // profile traits last mirrored this row (commerce/members/traits-sync.ts).
        `CREATE TABLE members (
          workspace_id ${t.int} NOT NULL,
          user_key ${t.bigint} NOT NULL,
          member_no ${t.text},
          status ${t.text} NOT NULL,
          tier ${t.text},
          assigned_tier ${t.text},
          source ${t.text} NOT NULL,
          store_id ${t.text},
          joined_at ${t.bigint} NOT NULL,
          points_balance ${t.bigint} NOT NULL CHECK (points_balance >= 0),
          tier_since ${t.bigint},
          created_at ${t.bigint} NOT NULL,
          updated_at ${t.bigint} NOT NULL,
          traits_synced_at ${t.bigint},
          PRIMARY KEY (workspace_id, user_key))`,
        ...pgOnly(`CREATE INDEX members_by_tier ON members (workspace_id, tier)`),
        ...pgOnly(`CREATE INDEX members_by_no ON members (workspace_id, member_no) WHERE member_no IS NOT NULL`),
        // Append-only: rows are inserted, never updated or deleted (except re-keyed when two people
        // merge). points is signed; credits carry expires_at, expiries name their lot. The unique
        // idempotency key (order:<id>, api:<key>, expire:<lot>) makes every move happen once.
        `CREATE TABLE points_ledger (
          workspace_id ${t.int} NOT NULL,
          entry_id ${t.bigint} NOT NULL,
          user_key ${t.bigint} NOT NULL,
          kind ${t.text} NOT NULL,
          points ${t.bigint} NOT NULL,
          balance_after ${t.bigint} NOT NULL,
          idempotency_key ${t.text} NOT NULL,
          order_id ${t.text},
          order_total ${t.double},
          multiplier ${t.double},
          campaign_id ${t.bigint},
          lot_entry_id ${t.bigint},
          expires_at ${t.bigint},
          reason ${t.text},
          reference ${t.text},
          occurred_at ${t.bigint} NOT NULL,
          created_at ${t.bigint} NOT NULL)`,
        `CREATE UNIQUE INDEX points_ledger_key ON points_ledger (workspace_id, idempotency_key)`,
        ...pgOnly(`CREATE INDEX points_ledger_by_user ON points_ledger (workspace_id, user_key, entry_id)`),
        ...pgOnly(`CREATE INDEX points_ledger_expiring ON points_ledger (workspace_id, expires_at) WHERE expires_at IS NOT NULL`),
        // Time windows with a multiplier ("double points in the first two hours"); tiers as ",gold,silver," or NULL for all.
        `CREATE TABLE points_campaigns (
          workspace_id ${t.int} NOT NULL,
          campaign_id ${t.bigint} NOT NULL,
          name ${t.text} NOT NULL,
          starts_at ${t.bigint} NOT NULL,
          ends_at ${t.bigint} NOT NULL,
          multiplier ${t.double} NOT NULL,
          tiers ${t.text},
          status ${t.text} NOT NULL,
          created_at ${t.bigint} NOT NULL,
          updated_at ${t.bigint} NOT NULL,
          PRIMARY KEY (workspace_id, campaign_id))`,
        // Every tier change (upgrades and downgrades), for reports and journeys.
        `CREATE TABLE member_tier_changes (
          workspace_id ${t.int} NOT NULL,
          user_key ${t.bigint} NOT NULL,
          from_tier ${t.text},
          to_tier ${t.text},
          changed_at ${t.bigint} NOT NULL)`,
        ...pgOnly(`CREATE INDEX member_tier_changes_by_time ON member_tier_changes (workspace_id, changed_at)`),
      ];
    },
  },
  {
    version: 8,
    name: 'content slots and variants',
    up(d) {
      const t = columnTypes[d];
      const pgOnly = (sql: string) => (d === 'postgres' ? [sql] : []);
      return [
        // One row per slot; `definition` is the whole validated slot (commerce/slots/schema.ts):
        // variants, targeting, holdout and content. Few rows: every API process keeps them in memory.
        `CREATE TABLE slots (
          workspace_id ${t.int} NOT NULL,
          name ${t.text} NOT NULL,
          placement ${t.text} NOT NULL,
          status ${t.text} NOT NULL,
          definition ${t.json} NOT NULL,
          created_at ${t.bigint} NOT NULL,
          updated_at ${t.bigint} NOT NULL,
          PRIMARY KEY (workspace_id, name))`,
        // On PostgreSQL the decide path's identity index (commerce/slots/person-index.ts) follows the
        // merges other processes make, by time, every second.
        ...pgOnly(`CREATE INDEX identity_merges_by_time ON identity_merges (workspace_id, merged_at)`),
      ];
    },
  },
  {
    version: 9,
    name: 'recommendation models',
    up(d) {
      const t = columnTypes[d];
      const pgOnly = (sql: string) => (d === 'postgres' ? [sql] : []);
      return [
        // One row per workspace: when its item-to-item model was built (null: never) and how big it is.
        // On PostgreSQL, builders lock this row so that two processes never build at once.
        `CREATE TABLE recommendation_models (
          workspace_id ${t.int} PRIMARY KEY,
          built_at ${t.bigint},
          products ${t.int},
          pairs ${t.int},
          buyers ${t.int},
          took_ms ${t.double})`,
        // Each product's nearest neighbours by co-purchase (commerce/recommendations/similarity.ts),
        // replaced whole on every build. No primary key on DuckDB (bulk insert), as for segment_members.
        `CREATE TABLE product_similarity (
          workspace_id ${t.int} NOT NULL,
          product_id ${t.text} NOT NULL,
          related_id ${t.text} NOT NULL,
          score ${t.double} NOT NULL,
          co_buyers ${t.int} NOT NULL,
          neighbour_rank ${t.int} NOT NULL)`,
        ...pgOnly(`CREATE UNIQUE INDEX product_similarity_pk ON product_similarity (workspace_id, product_id, related_id)`),
      ];
    },
  },
  {
    version: 10,
    name: 'leaving the membership programme',
    up(d) {
      const t = columnTypes[d];
      return [
        // When a member left (status 'left'); a later join makes them active again from scratch.
        // Nullable: DuckDB cannot add a NOT NULL column to a table with rows.
        `ALTER TABLE members ADD COLUMN left_at ${t.bigint}`,
      ];
    },
  },
];

export const latestVersion = Math.max(...migrations.map((m) => m.version));

/**
 * Applies every migration newer than the store's version, each in its own transaction. On
 * PostgreSQL, processes starting together on a new database take turns: without the lock both
 * would apply the first migration, and one would fail on a table the other had just created.
 */
export function migrate(store: Store, now: number): Promise<number[]> {
  return whileLocked(store, advisoryLock.migrations, 0, async () => {
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
  });
}
