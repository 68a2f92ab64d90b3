import { bucketSql, saltHash } from '../core/buckets.ts';
import type { Dialect, SqlParam } from '../store/index.ts';
import type { Comparison, ComputedTraitName, Condition, EventMatch, PropertyFilter, Window } from './definition.ts';
import { SqlBuilder } from './sql-builder.ts';
import { durationMs, instantMs, windowRange } from './time.ts';

/**
 * Segment definition → one SQL query (per dialect) returning the `user_key` of every member.
 *
 * Shape: the workspace's people (`users`, merged-away people excluded), with computed traits and
 * predictions joined when used, filtered by one boolean expression. Each behavioural condition is
 * `u.user_key IN (SELECT user_key FROM events … GROUP BY user_key HAVING …)`, which both engines
 * run as one hash semi-join over a filtered scan of the events: set-at-a-time, no per-person work.
 */
export interface CompileOptions {
  dialect: Dialect;
  workspaceId: number;
  /** Evaluation time: relative windows ("last 30 days") end here. */
  now: number;
  /** Only these people (incremental refresh after new events). */
  restrictTo?: readonly number[];
  /**
   * Bind into this builder (its placeholders continue), so the query can be embedded in a larger
   * statement of the caller's, e.g. `r.user_key IN (<segment>)`. Default: a builder of its own.
   */
  builder?: SqlBuilder;
}

export interface CompiledSegment {
  sql: string;
  params: SqlParam[];
}

/** Fields stored on each product line (`event_items`); a filter on them matches any line of the event. */
const itemColumns: Record<string, string> = { product_id: 'product_id', category: 'category', price: 'price', quantity: 'quantity' };
/** Event fields stored as typed columns (everything else is read from the properties JSON). */
const eventColumns: Record<string, { column: string; numeric: boolean }> = {
  total: { column: 'total', numeric: true },
  order_id: { column: 'order_id', numeric: false },
  currency: { column: 'currency', numeric: false },
};
const predictionColumns = new Set<ComputedTraitName>([
  'p_alive',
  'expected_purchases_30d',
  'expected_purchases_90d',
  'expected_next_order_at',
]);
/** Engagement actions → the events the messaging engine writes (docs/events.md). */
const engagementEvents = { received: 'Message Delivered', clicked: 'Message Clicked', converted: 'Journey Converted' } as const;

export function compileSegment(definition: Condition, options: CompileOptions): CompiledSegment {
  const b = options.builder ?? new SqlBuilder(options.dialect);
  const ws = b.param(options.workspaceId);
  const restrict = options.restrictTo ? b.param([...options.restrictTo]) : null;
  const c = new Compiler(b, ws, options.now, restrict);
  // "Did A and not B" questions (the interest group, dormant buyers) are one grouped scan of the
  // events: answer from it alone, as one would by hand, without a pass over every person.
  const scan = definition.type === 'and' ? c.andAsOneScan(definition.conditions) : null;
  if (scan !== null) {
    // Merged-away people own no events (a merge moves them), but a row written by a transaction
    // racing the merge could still name one: leave them out (they are few; no scan of everyone).
    const sql = `SELECT s.user_key FROM (${scan}) s
WHERE s.user_key NOT IN (SELECT m.user_key FROM users m WHERE m.workspace_id = ${ws} AND m.merged_into IS NOT NULL)`;
    return { sql, params: b.params };
  }
  const where = c.condition(definition);
  const joins: string[] = [];
  if (c.usesTraits) joins.push(`LEFT JOIN computed_traits ct ON ct.workspace_id = u.workspace_id AND ct.user_key = u.user_key`);
  if (c.usesPredictions) {
    joins.push(`LEFT JOIN customer_predictions cp ON cp.workspace_id = u.workspace_id AND cp.user_key = u.user_key`);
  }
  const restrictSql = restrict ? ` AND u.user_key IN (SELECT unnest(${restrict}::BIGINT[]))` : '';
  const sql = [
    `SELECT u.user_key FROM users u`,
    ...joins,
    `WHERE u.workspace_id = ${ws} AND u.merged_into IS NULL${restrictSql}`,
    `  AND ${where}`,
  ].join('\n');
  return { sql, params: b.params };
}

/**
 * The condition that one event row (alias `e`) matches names and filters: for journeys (entry
 * triggers, goals, waits), which join events to their instances. Binds into the caller's builder.
 */
export function eventMatchSql(b: SqlBuilder, workspaceParam: string, match: EventMatch, now: number): string {
  return new Compiler(b, workspaceParam, now, null).matchEvent(match);
}

class Compiler {
  usesTraits = false;
  usesPredictions = false;
  /** Within an `and`: event matches known to have occurred since an instant (see `and`). */
  private occursSince = new Map<string, number>();

  constructor(
    private readonly b: SqlBuilder,
    private readonly ws: string,
    private readonly now: number,
    private readonly restrict: string | null,
  ) {}

  condition(node: Condition): string {
    switch (node.type) {
      case 'and':
        return this.and(node.conditions);
      case 'or':
        return `(${node.conditions.map((n) => this.condition(n)).join('\n  OR ')})`;
      case 'not':
        // A comparison with a missing trait is NULL, and NOT NULL is NULL: "not X" means everyone not in X.
        return `NOT COALESCE(${this.condition(node.condition)}, FALSE)`;
      case 'trait':
        return this.compare(this.b.jsonText('u.traits', node.trait), node, 'json');
      case 'computed':
        return this.computed(node.trait, node);
      case 'performed':
        return this.performed(node, node.window, node.count ?? { op: 'at_least', value: 1 }, node.aggregate);
      case 'not_performed':
        return `NOT ${this.performed(node, node.window, { op: 'at_least', value: 1 })}`;
      case 'event_time': {
        const fn = node.which === 'first' ? 'min' : 'max';
        const cmp = node.op === 'before' ? '<' : '>=';
        const since = node.which === 'last' ? this.occursSince.get(matchKey(node)) : undefined;
        const source = this.eventSource(node, since === undefined ? undefined : { after: new Date(since).toISOString() });
        return `u.user_key IN (SELECT e.user_key FROM events e WHERE ${source} GROUP BY e.user_key HAVING ${fn}(e.ts) ${cmp} ${this.b.param(instantMs(node.value, this.now))})`;
      }
      case 'sequence':
        return this.sequence(node);
      case 'in_segment':
        return `u.user_key IN (SELECT sm.user_key FROM segment_members sm WHERE sm.workspace_id = ${this.ws} AND sm.segment_id = ${this.b.param(node.segmentId)})`;
      case 'random_bucket': {
        const bucket = bucketSql('u.user_key', this.b.param(saltHash(node.salt ?? '')));
        return `(${bucket} >= ${this.b.param(node.from)} AND ${bucket} < ${this.b.param(node.to)})`;
      }
      case 'engagement': {
        const where: PropertyFilter[] = [];
        if (node.channel !== undefined) where.push({ property: 'channel', op: 'eq', value: node.channel });
        if (node.journeyId !== undefined) where.push({ property: 'journey_id', op: 'eq', value: node.journeyId });
        const match = { event: engagementEvents[node.action], where };
        return this.performed(match, node.window, node.count ?? { op: 'at_least', value: 1 });
      }
      default: {
        const unknown: never = node;
        throw new Error(`unknown condition ${JSON.stringify(unknown)}`);
      }
    }
  }

  /**
   * An `and` whose conditions include "did E (at least once) since S" lets "the last E was
   * before/after T" look only at E since S: for everyone who passes the first, the last E is at
   * or after S. The dormant-customer question ("2+ orders in 180 days, last more than 60 days
   * ago") then scans 180 days of orders, not the whole history.
   */
  private and(conditions: Condition[]): string {
    return this.planAnd(
      conditions,
      (merged, rest) => `(${[...(merged ? [`u.user_key IN (${merged})`] : []), ...rest.map((n) => this.condition(n))].join('\n  AND ')})`,
    );
  }

  /** The bare grouped scan (`SELECT e.user_key …`) when `oneScan` answers every condition of the `and`, else null. */
  andAsOneScan(conditions: Condition[]): string | null {
    return this.planAnd(conditions, (merged, rest) => (merged !== null && rest.length === 0 ? merged : null));
  }

  /** Plans an `and` (which conditions share one scan) and builds it with `build`, inside its `occursSince` scope. */
  private planAnd<T>(conditions: Condition[], build: (merged: string | null, rest: Condition[]) => T): T {
    const outer = this.occursSince;
    this.occursSince = new Map(outer);
    for (const c of conditions) {
      if (c.type !== 'performed' || c.aggregate || (c.count && (c.count.op !== 'at_least' || c.count.value < 1))) continue;
      const start = windowRange(c.window, this.now).start;
      const key = matchKey(c);
      if (start !== null && start > (this.occursSince.get(key) ?? Number.NEGATIVE_INFINITY)) this.occursSince.set(key, start);
    }
    const isPositive = (c: Condition) =>
      c.type === 'performed' && !c.aggregate && (!c.count || (c.count.op === 'at_least' && c.count.value >= 1));
    const counted = conditions.filter((c) => isPositive(c) || c.type === 'not_performed');
    const starts = counted.map((c) => windowRange((c as { window?: Window }).window, this.now).start);
    const scanStart = starts.some((t) => t === null) ? Number.NEGATIVE_INFINITY : Math.min(...(starts as number[]));
    // "Last E before/after T" joins too when "did E since S" holds and the scan starts by S (then the last E is in it).
    const lastInScan = (c: Condition) =>
      c.type === 'event_time' && c.which === 'last' && (this.occursSince.get(matchKey(c)) ?? Number.NEGATIVE_INFINITY) >= scanStart;
    const mergeable = conditions.filter((c) => counted.includes(c) || lastInScan(c));
    const merged = mergeable.length >= 2 && counted.some(isPositive) ? this.oneScan(mergeable) : null;
    const rest = merged ? conditions.filter((c) => !mergeable.includes(c)) : conditions;
    try {
      return build(merged, rest);
    } finally {
      this.occursSince = outer;
    }
  }

  /**
   * Several "did E" / "did not do E" conditions of one `and` as one scan grouped by person, each a
   * filtered count — the query one would write by hand (cart 3–10 days ago and no order in 10 days:
   * one pass over carts and orders, not two). Everyone it must find did one of the positive
   * events, so they are in the scan, and "did not" is a count of zero.
   */
  private oneScan(conditions: Condition[]): string {
    const parts = conditions as Extract<Condition, { type: 'performed' | 'not_performed' | 'event_time' }>[];
    const names = [...new Set(parts.flatMap((c) => (Array.isArray(c.event) ? c.event : [c.event])))];
    const counted = parts.filter((c) => c.type !== 'event_time');
    const ranges = counted.map((c) => windowRange(c.window, this.now));
    const scan = [`e.workspace_id = ${this.ws}`, this.b.inList('e.event', names)];
    if (ranges.every((r) => r.start !== null)) scan.push(`e.ts >= ${this.b.param(Math.min(...ranges.map((r) => r.start!)))}`);
    // A "last E" needs every later event, so the scan then has no end.
    if (counted.length === parts.length && ranges.every((r) => r.end !== null)) {
      scan.push(`e.ts <= ${this.b.param(Math.max(...ranges.map((r) => r.end!)))}`);
    }
    if (this.restrict) scan.push(`e.user_key IN (SELECT unnest(${this.restrict}::BIGINT[]))`);
    const having = parts.map((c) => {
      const names = Array.isArray(c.event) ? c.event : [c.event];
      if (c.type === 'event_time') {
        const matches = [this.b.inList('e.event', names), ...this.filters(c, undefined)].join(' AND ');
        return `max(e.ts) FILTER (WHERE ${matches}) ${c.op === 'before' ? '<' : '>='} ${this.b.param(instantMs(c.value, this.now))}`;
      }
      const matches = [this.b.inList('e.event', names), ...this.windowSql('e.ts', c.window), ...this.filters(c, c.window)].join(' AND ');
      const atLeast = c.type === 'performed' ? (c.count?.value ?? 1) : 0;
      return `count(*) FILTER (WHERE ${matches}) ${atLeast === 0 ? '= 0' : `>= ${this.b.param(atLeast)}`}`;
    });
    return `SELECT e.user_key FROM events e WHERE ${scan.join(' AND ')} GROUP BY e.user_key HAVING ${having.join(' AND ')}`;
  }

  private computed(trait: ComputedTraitName, cmp: Comparison): string {
    const prediction = predictionColumns.has(trait);
    if (prediction) this.usesPredictions = true;
    else this.usesTraits = true;
    return this.compare(`${prediction ? 'cp' : 'ct'}.${trait}`, cmp, 'typed');
  }

  /**
   * People with at least / at most / exactly N matching events (or an aggregate over them).
   * "At most N" and "exactly 0" include people who never did it, so they are written as the
   * complement of "at least N+1" / "at least 1".
   */
  private performed(
    match: EventMatch,
    window: Window | undefined,
    count: { op: 'at_least' | 'at_most' | 'exactly'; value: number },
    aggregate?: { fn: string; property: string } & Comparison,
  ): string {
    const atLeast = (n: number) => this.grouped(match, window, n <= 1 ? null : { op: '>=', n }, aggregate);
    if (aggregate && count.op !== 'at_least') {
      // With an aggregate both must hold on the person's events: not the complement of "at least N+1 and aggregate".
      return this.grouped(match, window, { op: count.op === 'at_most' ? '<=' : '=', n: count.value }, aggregate);
    }
    if (count.op === 'at_most') return `NOT ${atLeast(count.value + 1)}`;
    if (count.op === 'exactly') {
      if (count.value === 0) return `NOT ${atLeast(1)}`;
      return this.grouped(match, window, { op: '=', n: count.value }, aggregate);
    }
    if (count.value === 0 && !aggregate) return 'TRUE';
    return atLeast(count.value);
  }

  private grouped(
    match: EventMatch,
    window: Window | undefined,
    count: { op: '>=' | '<=' | '='; n: number } | null,
    aggregate?: { fn: string; property: string } & Comparison,
  ): string {
    const where = match.where ?? [];
    // Only product-line filters ("an order with a line in Phones"): read the lines alone, which
    // carry person, event and time, instead of joining events to them on the message id.
    if (!aggregate && where.length > 0 && where.every((f) => f.property in itemColumns)) {
      const having = count ? ` GROUP BY i.user_key HAVING count(DISTINCT i.message_id) ${count.op} ${this.b.param(count.n)}` : '';
      return `u.user_key IN (SELECT i.user_key FROM event_items i WHERE ${this.itemSource(match, window)}${having})`;
    }
    const source = this.eventSource(match, window);
    const conditions = count ? [`count(*) ${count.op} ${this.b.param(count.n)}`] : [];
    if (aggregate) {
      const value = `${aggregate.fn}(${this.eventNumber(aggregate.property)})`;
      conditions.push(this.compare(value, aggregate, 'typed'));
    }
    const groupBy = conditions.length > 0 ? ` GROUP BY e.user_key HAVING ${conditions.join(' AND ')}` : '';
    return `u.user_key IN (SELECT e.user_key FROM events e WHERE ${source}${groupBy})`;
  }

  matchEvent(match: EventMatch): string {
    const names = Array.isArray(match.event) ? match.event : [match.event];
    return [this.b.inList('e.event', names), ...this.filters(match, undefined)].join(' AND ');
  }

  /** The WHERE clause selecting product lines (alias `i`) of matching events with the match's line filters. */
  private itemSource(match: EventMatch, window: Window | undefined): string {
    const names = Array.isArray(match.event) ? match.event : [match.event];
    const parts = [`i.workspace_id = ${this.ws}`, this.b.inList('i.event', names), ...this.windowSql('i.ts', window)];
    if (this.restrict) parts.push(`i.user_key IN (SELECT unnest(${this.restrict}::BIGINT[]))`);
    for (const f of match.where ?? []) if (f.property in itemColumns) parts.push(this.compare(`i.${itemColumns[f.property]}`, f, 'typed'));
    return parts.join(' AND ');
  }

  /** The WHERE clause selecting matching events of this workspace (alias `e`). */
  private eventSource(match: EventMatch, window: Window | undefined): string {
    const names = Array.isArray(match.event) ? match.event : [match.event];
    const parts = [`e.workspace_id = ${this.ws}`, this.b.inList('e.event', names), ...this.windowSql('e.ts', window)];
    if (this.restrict) parts.push(`e.user_key IN (SELECT unnest(${this.restrict}::BIGINT[]))`);
    parts.push(...this.filters(match, window));
    return parts.join(' AND ');
  }

  private windowSql(column: string, window: Window | undefined): string[] {
    const r = windowRange(window, this.now);
    const out: string[] = [];
    if (r.start !== null) out.push(`${column} >= ${this.b.param(r.start)}`);
    if (r.end !== null) out.push(`${column} ${r.endInclusive ? '<=' : '<'} ${this.b.param(r.end)}`);
    return out;
  }

  /** Event-level filters inline; product-line filters as a semi-join on the event's message id. */
  private filters(match: EventMatch, window: Window | undefined): string[] {
    const where = match.where ?? [];
    const onEvent = where.filter((f) => !(f.property in itemColumns));
    const onItems = where.filter((f) => f.property in itemColumns);
    const out = onEvent.map((f) => {
      const typed = eventColumns[f.property];
      if (typed) return this.compare(`e.${typed.column}`, f, 'typed');
      return this.compare(this.b.jsonText('e.properties', f.property), f, 'json');
    });
    if (onItems.length > 0) out.push(`e.message_id IN (SELECT i.message_id FROM event_items i WHERE ${this.itemSource(match, window)})`);
    return out;
  }

  /** A numeric event property for aggregates: typed column, else the JSON value as a number. */
  private eventNumber(property: string): string {
    const typed = eventColumns[property];
    if (typed?.numeric) return `e.${typed.column}`;
    if (property in itemColumns) {
      // Per event: the sum over its product lines (e.g. quantity of items in the order).
      return `(SELECT sum(i.${itemColumns[property]}) FROM event_items i WHERE i.workspace_id = e.workspace_id AND i.message_id = e.message_id)`;
    }
    return this.b.toNumber(this.b.jsonText('e.properties', property));
  }

  /**
   * "Did A, then (not) B within T". One pass over the person's A and B events ordered by time:
   * for each A, the time of the next B at or after it (a window function), compared with A + T.
   * "Not within T" only counts once T has passed since A.
   */
  private sequence(node: Extract<Condition, { type: 'sequence' }>): string {
    const within = durationMs(node.within);
    const firstNames = Array.isArray(node.first.event) ? node.first.event : [node.first.event];
    const thenNames = Array.isArray(node.then.event) ? node.then.event : [node.then.event];
    const isFirst = [this.b.inList('e.event', firstNames), ...this.filters(node.first, node.window)].join(' AND ');
    const isThen = [this.b.inList('e.event', thenNames), ...this.filters(node.then, undefined)].join(' AND ');
    const start = windowRange(node.window, this.now).start;
    const allNames = [...new Set([...firstNames, ...thenNames])];
    const scan = [`e.workspace_id = ${this.ws}`, this.b.inList('e.event', allNames)];
    if (start !== null) scan.push(`e.ts >= ${this.b.param(start)}`);
    if (this.restrict) scan.push(`e.user_key IN (SELECT unnest(${this.restrict}::BIGINT[]))`);
    const firstWindow = this.windowSql('s.ts', node.window);
    const withinP = this.b.param(within);
    const outcome = node.thenPerformed
      ? `s.next_then IS NOT NULL AND s.next_then <= s.ts + ${withinP}`
      : `s.ts + ${withinP} <= ${this.b.param(this.now)} AND (s.next_then IS NULL OR s.next_then > s.ts + ${withinP})`;
    // Same product: one row per product line (joined to its event), partitioned by product too.
    const from = node.sameProduct
      ? `events e JOIN event_items it ON it.workspace_id = e.workspace_id AND it.message_id = e.message_id AND ${this.b.inList('it.event', allNames)}`
      : 'events e';
    const partition = node.sameProduct ? 'e.user_key, it.product_id' : 'e.user_key';
    return `u.user_key IN (SELECT s.user_key FROM (
      SELECT e.user_key, e.ts, (${isFirst}) AS is_first,
        min(CASE WHEN ${isThen} THEN e.ts END) OVER (PARTITION BY ${partition} ORDER BY e.ts RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING EXCLUDE CURRENT ROW) AS next_then
      FROM ${from} WHERE ${scan.join(' AND ')}) s
    WHERE s.is_first${firstWindow.map((w) => ` AND ${w}`).join('')} AND ${outcome})`;
  }

  /**
   * One comparison. `json` values are text (numbers and dates are cast, NULL when they are not
   * numbers or dates); `typed` values are columns of their own type.
   */
  private compare(value: string, cmp: Comparison, kind: 'json' | 'typed'): string {
    const b = this.b;
    const num = kind === 'json' ? b.toNumber(value) : value;
    switch (cmp.op) {
      case 'eq':
      case 'neq': {
        const op = cmp.op === 'eq' ? '=' : '<>';
        if (typeof cmp.value === 'number') return `${num} ${op} ${b.param(cmp.value)}`;
        if (kind === 'typed' && typeof cmp.value === 'boolean') return `${value} ${op} ${b.param(cmp.value)}`;
        return `${value} ${op} ${b.param(String(cmp.value))}`;
      }
      case 'in':
      case 'not_in': {
        const numeric = cmp.value.every((v) => typeof v === 'number');
        const list = numeric ? b.inList(num, cmp.value as number[]) : b.inList(value, cmp.value.map(String));
        return cmp.op === 'in' ? list : `(${value} IS NOT NULL AND NOT ${list})`;
      }
      case 'contains':
        return `strpos(lower(${value}), ${b.param(cmp.value.toLowerCase())}) > 0`;
      case 'gt':
        return `${num} > ${b.param(cmp.value)}`;
      case 'gte':
        return `${num} >= ${b.param(cmp.value)}`;
      case 'lt':
        return `${num} < ${b.param(cmp.value)}`;
      case 'lte':
        return `${num} <= ${b.param(cmp.value)}`;
      case 'between':
        return `${num} BETWEEN ${b.param(cmp.value[0])} AND ${b.param(cmp.value[1])}`;
      case 'before':
      case 'after': {
        const ms = kind === 'json' ? b.toEpochMs(value) : value;
        return `${ms} ${cmp.op === 'before' ? '<' : '>='} ${b.param(instantMs(cmp.value, this.now))}`;
      }
      case 'exists':
        return `${value} IS NOT NULL`;
      case 'not_exists':
        return `${value} IS NULL`;
      case 'in_category':
        return `strpos(' > ' || ${value} || ' > ', ${b.param(` > ${cmp.value} > `)}) > 0`;
      default: {
        const unknown: never = cmp;
        throw new Error(`unknown operator ${JSON.stringify(unknown)}`);
      }
    }
  }
}

/** Identifies an event match (names and filters) regardless of the order names are listed in. */
function matchKey(m: EventMatch): string {
  const names = (Array.isArray(m.event) ? [...m.event] : [m.event]).sort();
  return JSON.stringify([names, m.where ?? []]);
}
