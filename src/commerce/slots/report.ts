import { DAY } from '../../core/clock.ts';
import { jsonText } from '../../store/dialect.ts';
import type { SqlExecutor } from '../../store/index.ts';
import { CLICKED_EVENT, DEFAULT_VARIANT, HOLDOUT_VARIANT, type ReportQuery, type Slot, VIEWED_EVENT } from './schema.ts';

export interface VariantReport {
  variant: string;
  impressions: number;
  viewers: number;
  clicks: number;
  clickers: number;
  /** clicks / impressions (null without impressions). */
  ctr: number | null;
  /** Viewers with a conversion event within the window after their first view of this variant. */
  converters: number;
  conversionRate: number | null;
  /** Sum of the conversion events' `total`. */
  revenue: number;
  /** (conversion rate − the holdout's) / the holdout's; null without a holdout or when it converted nobody. */
  liftVsHoldout: number | null;
}

export interface SlotReport {
  slot: string;
  from: number;
  to: number;
  conversionEvent: string;
  windowDays: number;
  variants: VariantReport[];
}

interface Row {
  variant: string;
  impressions: number;
  viewers: number;
  clicks: number;
  clickers: number;
  converters: number;
  revenue: number | null;
  [k: string]: unknown;
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : null);

/**
 * Impressions, clicks, CTR and conversions per variant of one slot, from the `Content Viewed` /
 * `Content Clicked` events the shop sends back (properties `slot`, `variant`), in one statement.
 * A viewer converts when they perform the conversion event within `windowDays` after their first
 * view of the variant; the holdout's viewers are the control group of the lift.
 */
export async function slotReport(db: SqlExecutor, workspaceId: number, slot: Slot, q: ReportQuery, now: number): Promise<SlotReport> {
  const to = q.to ? Date.parse(q.to) : now;
  const from = q.from ? Date.parse(q.from) : to - 30 * DAY;
  const rows = await db.query<Row>(
    `WITH ev AS (
       SELECT user_key, event, ts, COALESCE(${jsonText('properties', 'variant')}, '') AS variant FROM events
       WHERE workspace_id = $1 AND event IN ('${VIEWED_EVENT}', '${CLICKED_EVENT}') AND ts >= $3 AND ts < $4 AND ${jsonText('properties', 'slot')} = $2
     ),
     counts AS (
       SELECT variant,
         sum(CASE WHEN event = '${VIEWED_EVENT}' THEN 1 ELSE 0 END) AS impressions,
         count(DISTINCT CASE WHEN event = '${VIEWED_EVENT}' THEN user_key END) AS viewers,
         sum(CASE WHEN event = '${CLICKED_EVENT}' THEN 1 ELSE 0 END) AS clicks,
         count(DISTINCT CASE WHEN event = '${CLICKED_EVENT}' THEN user_key END) AS clickers
       FROM ev GROUP BY variant
     ),
     first_view AS (SELECT variant, user_key, min(ts) AS at FROM ev WHERE event = '${VIEWED_EVENT}' GROUP BY variant, user_key),
     conv AS (
       SELECT f.variant, count(DISTINCT f.user_key) AS converters, sum(o.total) AS revenue
       FROM first_view f JOIN events o ON o.workspace_id = $1 AND o.user_key = f.user_key AND o.event = $5
         AND o.ts >= f.at AND o.ts < f.at + $6
       GROUP BY f.variant
     )
     SELECT c.variant, c.impressions, c.viewers, c.clicks, c.clickers, COALESCE(v.converters, 0) AS converters, v.revenue
     FROM counts c LEFT JOIN conv v ON v.variant = c.variant`,
    [workspaceId, slot.name, from, to, q.conversionEvent, q.windowDays * DAY],
  );
  const byVariant = new Map(rows.map((r) => [r.variant, r]));
  // Every variant of the definition is listed (zeros included), then whatever else came back.
  const names = [...slot.variants.map((v) => v.id), DEFAULT_VARIANT, HOLDOUT_VARIANT];
  for (const r of rows) if (!names.includes(r.variant)) names.push(r.variant);
  const holdout = byVariant.get(HOLDOUT_VARIANT);
  const holdoutRate = holdout ? ratio(Number(holdout.converters), Number(holdout.viewers)) : null;
  const variants = names
    .filter((n) => byVariant.has(n) || (n !== DEFAULT_VARIANT && n !== HOLDOUT_VARIANT))
    .map((variant): VariantReport => {
      const r = byVariant.get(variant);
      const impressions = Number(r?.impressions ?? 0);
      const viewers = Number(r?.viewers ?? 0);
      const clicks = Number(r?.clicks ?? 0);
      const converters = Number(r?.converters ?? 0);
      const conversionRate = ratio(converters, viewers);
      return {
        variant,
        impressions,
        viewers,
        clicks,
        clickers: Number(r?.clickers ?? 0),
        ctr: ratio(clicks, impressions),
        converters,
        conversionRate,
        revenue: Number(r?.revenue ?? 0),
        liftVsHoldout:
          variant === HOLDOUT_VARIANT || conversionRate === null || !holdoutRate ? null : (conversionRate - holdoutRate) / holdoutRate,
      };
    });
  return { slot: slot.name, from, to, conversionEvent: q.conversionEvent, windowDays: q.windowDays, variants };
}
