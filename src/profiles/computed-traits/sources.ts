/**
 * The rows a refresh reads, as SQL relations with the columns of `events` / `event_items`,
 * already restricted to the workspace ($1) and to the people being refreshed. A full refresh
 * reads the tables themselves; an incremental one first copies the events of the chosen people
 * into temporary tables with one join each, because DuckDB would otherwise push every CTE's
 * `event = …` filter into a scan of the whole table before joining on the people.
 */
export interface TraitSources {
  events: string;
  items: string;
  /** Temporary table (user_key, tz): the people refreshed, each with a valid IANA zone or NULL. */
  people: string;
  /** Temporary table (tz, day, offset_ms): UTC offset of each zone on each UTC day of the hour window. */
  tzDays: string;
}

export const fullSources: TraitSources = {
  events: '(SELECT * FROM events WHERE workspace_id = $1)',
  items: '(SELECT * FROM event_items WHERE workspace_id = $1)',
  people: 'ct_people',
  tzDays: 'ct_tz_days',
};

export const stagedSources: TraitSources = {
  events: 'ct_events',
  items: 'ct_items',
  people: 'ct_people',
  tzDays: 'ct_tz_days',
};
