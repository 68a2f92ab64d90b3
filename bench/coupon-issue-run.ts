/**
 * Issuing coupon codes in bulk, as a journey's coupon node does for a whole audience: N people
 * get a code of campaign `first`, then N people a code of campaign `second`, next to the N codes
 * already stored (each issue one transaction through `issueCoupons`). Prints one JSON row per
 * campaign with its seconds and the codes stored; the run fails unless each campaign holds N.
 *
 *   node --import tsx bench/coupon-issue-run.ts [--engine duckdb|postgres] [--people 100000]
 *
 * Written for DuckDB's ON CONFLICT on `coupon_codes` (three unique keys), whose cost grew much
 * faster than the rows: the second campaign is where that showed (docs/benchmarks.md, session 22).
 */
import { parseArgs } from 'node:util';
import { couponCampaignInputSchema, createCampaign, issueCoupons, issueTerms, prepareIssueTable } from '../src/commerce/coupons/index.ts';
import { writingEvents } from '../src/store/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import { benchStore, type Engine } from './bench-store.ts';
import { round, secondsSince } from './stats.ts';

const { values } = parseArgs({
  options: {
    engine: { type: 'string', default: 'duckdb' },
    people: { type: 'string', default: '100000' },
  },
});
const engine = values.engine as Engine;
if (engine !== 'duckdb' && engine !== 'postgres') throw new Error(`--engine duckdb|postgres, not ${values.engine}`);
const people = Number(values.people);
if (!Number.isSafeInteger(people) || people <= 0) throw new Error(`--people: not a positive whole number: ${values.people}`);

const bs = await benchStore(engine);
const rows: Record<string, unknown>[] = [];
try {
  const { store } = bs;
  const now = Date.UTC(2026, 2, 2, 10);
  const ws = (await createWorkspace(store, 'bench-coupons', now)).workspaceId;
  for (const name of ['first', 'second']) {
    const input = couponCampaignInputSchema.parse({ name, discount: { kind: 'amount', value: 5 } });
    const campaign = await createCampaign(store, ws, input, now);
    process.stderr.write(`coupons/${engine}: issuing ${people} codes of campaign "${name}"…\n`);
    const start = performance.now();
    await writingEvents(store, ws, now, async (tx) => {
      await prepareIssueTable(tx, store.dialect);
      await tx.query(
        `INSERT INTO coupon_issue (seq, user_key, issue_key, instance_id, value)
         SELECT i, i, '${name}.' || i, i, 5 FROM generate_series(1, ${people}) t(i)`,
      );
      await issueCoupons({
        tx,
        dialect: store.dialect,
        workspaceId: ws,
        now,
        campaign,
        terms: issueTerms(campaign, now),
        journeyId: null,
        nodeId: null,
      });
    });
    const seconds = secondsSince(start);
    const [stored] = await store.query<{ n: number }>(
      'SELECT count(*) AS n FROM coupon_codes WHERE workspace_id = $1 AND campaign_id = $2',
      [ws, campaign.campaignId],
    );
    const codes = Number(stored?.n ?? 0);
    rows.push({
      engine,
      campaign: name,
      people,
      storedBefore: name === 'first' ? 0 : people,
      seconds: round(seconds, 2),
      codesPerSecond: Math.round(people / seconds),
      codes,
      ...(codes === people ? {} : { error: `${codes} codes stored, expected ${people}` }),
    });
  }
} finally {
  await bs.dispose();
}
process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
if (rows.some((r) => r.error)) process.exitCode = 1;
