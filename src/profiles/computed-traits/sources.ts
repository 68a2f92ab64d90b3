import type { TraitDialect } from './sql-dialect.ts';

/**
 * The rows a refresh reads, as SQL relations with the typed columns of `events` / `event_items`
 * (user_key, type, event, ts, order_id, total / user_key, event, ts, category), already
 * restricted to the workspace ($1) and to the people being refreshed.
 *
 * The few values taken from JSON (`properties`, `context`) are named by `fields`, expressions
 * over the alias `ev`: a full refresh extracts them from the JSON columns (only for the rows that
 * need them), an incremental one reads them from columns filled once while staging. Copying the
 * JSON itself is what made incremental refreshes slow: on DuckDB a join reads a column for every
 * row of the table before it can drop the rows of other people.
 */
export interface TraitSources {
  events: string;
  items: string;
  /** Temporary table (user_key, tz): the people refreshed, each with a valid IANA zone or NULL. */
  people: string;
  /** Temporary table (tz, day, offset_ms): UTC offset of each zone on each UTC day of the hour window. */
  tzDays: string;
  fields: TraitFields;
}

export interface TraitFields {
  /** 1 when a paid-order row carries a non-empty `coupon` or a positive `discount`, else 0. */
  couponFlag: string;
  /** `properties.channel` (read on response events only). */
  channel: string;
  /** `context.timezone` (read on activity rows of people without a `timezone` trait only). */
  contextTz: string;
}

/** The JSON-derived fields, computed from an events row `ev`. */
export function jsonFields(d: TraitDialect): TraitFields {
  return {
    couponFlag: `CASE WHEN coalesce(ev.properties ->> 'coupon', '') <> '' OR coalesce(${d.numberField('ev.properties', 'discount')}, 0) > 0
      THEN 1 ELSE 0 END`,
    channel: `ev.properties ->> 'channel'`,
    contextTz: `ev.context ->> 'timezone'`,
  };
}

export function fullSources(d: TraitDialect): TraitSources {
  return {
    events: '(SELECT * FROM events WHERE workspace_id = $1)',
    items: '(SELECT * FROM event_items WHERE workspace_id = $1)',
    people: 'ct_people',
    tzDays: 'ct_tz_days',
    fields: jsonFields(d),
  };
}

/** Incremental: the people's events and product lines, copied by staging.ts. */
export const stagedSources: TraitSources = {
  events: 'ct_events',
  items: 'ct_items',
  people: 'ct_people',
  tzDays: 'ct_tz_days',
  fields: { couponFlag: 'ev.coupon', channel: 'ev.channel', contextTz: 'ev.ctx_tz' },
};
