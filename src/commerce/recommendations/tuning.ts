import { DAY } from '../../core/clock.ts';
import type { SqlParam } from '../../store/index.ts';

/**
 * The recommender's constants in one place. They were checked against the offline evaluation
 * (`shopflow recommendations evaluate`, docs/recommendations.md): change one, run it again.
 */
export const tuning = {
  /** popular / the fill-up: units ordered in this window. */
  popularDays: 90,
  /** trending: this week's units against the weekly rate of the four weeks before. */
  trendRecentDays: 7,
  trendBaselineDays: 28,
  /** recently_viewed: views this recent. */
  viewDays: 30,
  /** same_category / persona: the person's purchases and views this recent decide their category. */
  historyDays: 365,
  /** related: the person's latest distinct purchases used as anchors when no trigger product (offline, 30-day pairs: 1 → 10.0 %, 5 → 11.8 %, 10 → 11.9 %). */
  anchors: 5,
  /**
   * related: b counts as bought with a when the same person bought it in the same order or within
   * this many days after (offline: 7 days 10.7 %, 30 days 11.8 %, 90 days 12.5 %, a year 12.5 %).
   */
  afterDays: 90,
  /** related: orders this far back build the co-occurrence counts. */
  modelDays: 365,
  /** related: pairs bought by fewer people are noise; shrinkage c/(c+k) damps the ones just above. */
  minCoBuyers: 2,
  shrink: 3,
  /** related: neighbours kept per product in the precomputed model. */
  neighbours: 50,
  /** The precomputed model is used while younger than this; older, similarities are computed live. */
  modelMaxAgeMs: DAY,
  /** Candidates per list beyond `count`, so the rules (bought, out of stock, per category) still leave enough. */
  slack: 50,
} as const;
export type Tuning = typeof tuning;

/**
 * Bind parameters shared by the pieces of one statement: each value gets one placeholder,
 * created on first use, because DuckDB refuses a statement with a placeholder it does not use.
 * The recommendation SQL is the same text on both engines (no dialect needed), except the JSON
 * of journey triggers (people.ts).
 */
export class Params {
  readonly values: SqlParam[] = [];
  private readonly made = new Map<string, string>();

  /** The placeholder named `name` (same name, same value). */
  get(name: string, value: SqlParam): string {
    let p = this.made.get(name);
    if (p === undefined) {
      this.values.push(value);
      p = `$${this.values.length}`;
      this.made.set(name, p);
    }
    return p;
  }

  /** A number as a double on both engines (PostgreSQL would otherwise divide integers, or keep NUMERIC); DuckDB reads the same name. */
  double(sql: string): string {
    return `CAST(${sql} AS DOUBLE PRECISION)`;
  }
}

/** Whole milliseconds of `days` days, for SQL text (our constants, never user input). */
export const daysMs = (days: number): number => Math.round(days * DAY);
