import { arrayCast, type Dialect, type EventsTx, type SqlExecutor } from '../../store/index.ts';
import type { CouponCampaign } from './campaigns-repo.ts';
import { generateCodes } from './codes.ts';
import { insertCouponEvents } from './events.ts';
import { isMemberSql } from './membership.ts';
import { costSql, type IssueTerms } from './terms.ts';

export interface IssueContext {
  tx: EventsTx;
  dialect: Dialect;
  workspaceId: number;
  now: number;
  campaign: CouponCampaign;
  terms: IssueTerms;
  /** Where the codes come from (a journey node), for the report and the person's coupon list. */
  journeyId: number | null;
  nodeId: string | null;
}

/**
 * The scratch table of one issue: a row per person (or journey instance) who should get a code.
 * The caller fills seq (the order in which the budget is spent), user_key, issue_key, instance_id
 * and value; issuing fills code, or reason when there is none. One per connection, emptied each
 * time (creating tables per step costs more than the step on DuckDB).
 */
export async function prepareIssueTable(tx: SqlExecutor, dialect: Dialect): Promise<void> {
  const dbl = dialect === 'duckdb' ? 'DOUBLE' : 'DOUBLE PRECISION';
  await tx.query(`CREATE TEMP TABLE IF NOT EXISTS coupon_issue (seq BIGINT NOT NULL, user_key BIGINT NOT NULL, issue_key TEXT NOT NULL,
    instance_id BIGINT, value ${dbl}, reason TEXT, person_seq INTEGER, code TEXT)`);
  await tx.query('DELETE FROM coupon_issue');
}

/**
 * Issues codes to everyone in `coupon_issue`, set-at-a-time, in the caller's transaction. Who gets
 * none is told why (`reason`), in this order: the campaign is closed, no value, not a member, the
 * per-person limit, the budget (spent in `seq` order, stopping at the first code that does not
 * fit), an empty pool. Codes are generated here in one batch (or taken from the pool) and inserted
 * with one statement; the unique indexes on (campaign, person, person_seq) and on issue_key have
 * the last word, so a concurrent issuer can never give one person more than the limit.
 */
export async function issueCoupons(ctx: IssueContext): Promise<void> {
  const { tx, terms, campaign } = ctx;
  const ws = ctx.workspaceId;
  const cid = campaign.campaignId;
  const d = campaign.definition;
  const refuse = (reason: string, where: string, params: unknown[] = []) =>
    tx.query(`UPDATE coupon_issue SET reason = '${reason}' WHERE reason IS NULL AND ${where}`, params as never);

  if (terms.closed) {
    await refuse(terms.closed, 'TRUE');
    return;
  }
  // Percentages above 100 would make the order free and more; a tier cannot ask for that.
  await refuse('no_value', `(value IS NULL OR value <= 0${terms.kind === 'percent' ? ' OR value > 100' : ''})`);
  if (d.memberOnly) await refuse('not_a_member', `NOT ${isMemberSql('$1', 'coupon_issue.user_key')}`, [ws]);

  // Each person's next slots after the codes they hold (numbered even without a limit: DuckDB's
  // ON CONFLICT takes NULLs in one statement for equal). The unique index on the slot decides races.
  await tx.query(
    `UPDATE coupon_issue SET person_seq = x.slot FROM (
       SELECT i.seq, COALESCE(h.n, 0) + row_number() OVER (PARTITION BY i.user_key ORDER BY i.seq) AS slot
       FROM coupon_issue i LEFT JOIN (
         SELECT user_key, count(*) AS n FROM coupon_codes WHERE workspace_id = $1 AND campaign_id = $2
           AND user_key IN (SELECT user_key FROM coupon_issue) GROUP BY user_key) h ON h.user_key = i.user_key
       WHERE i.reason IS NULL) x
     WHERE coupon_issue.seq = x.seq`,
    [ws, cid],
  );
  if (d.perPersonLimit !== null) await refuse('per_person_limit', `person_seq > ${Number(d.perPersonLimit)}`);

  const { maxCount, maxValue } = d.budget;
  if (maxCount !== undefined || maxValue !== undefined) {
    const [used] = await tx.query<{ n: number; v: number }>(
      'SELECT count(*) AS n, COALESCE(sum(cost), 0) AS v FROM coupon_codes WHERE workspace_id = $1 AND campaign_id = $2',
      [ws, cid],
    );
    const leftCount = (maxCount ?? Number.MAX_SAFE_INTEGER) - Number(used?.n ?? 0);
    const leftValue = (maxValue ?? 1e15) - Number(used?.v ?? 0);
    // Running totals in seq order: once a code does not fit, none after it does (costs are positive).
    await refuse(
      'budget_exhausted',
      `seq IN (SELECT seq FROM (SELECT seq, row_number() OVER (ORDER BY seq) AS k,
         sum(${costSql(terms, 'value')}) OVER (ORDER BY seq ROWS UNBOUNDED PRECEDING) AS spent
         FROM coupon_issue WHERE reason IS NULL) x WHERE x.k > $1 OR x.spent > $2 + 1e-9)`,
      [leftCount, leftValue],
    );
  }

  const [{ n }] = (await tx.query<{ n: number }>('SELECT count(*) AS n FROM coupon_issue WHERE reason IS NULL')) as [{ n: number }];
  const count = Number(n);
  if (count > 0) {
    const codes = d.codes === 'pool' ? await poolSource(ctx, count) : generatedSource(ctx, count, d.codePrefix);
    if (codes.available < count) {
      const ranked = 'SELECT seq, row_number() OVER (ORDER BY seq) AS k FROM coupon_issue WHERE reason IS NULL';
      await refuse('pool_empty', `seq IN (SELECT seq FROM (${ranked}) x WHERE x.k > $1)`, [codes.available]);
    }
    await insertCodes(ctx, codes);
  }
  // Who lost a race for their slot (or, astronomically rarely, for a code) has no code now.
  await tx.query(
    `UPDATE coupon_issue SET code = c.code FROM coupon_codes c
     WHERE c.workspace_id = $1 AND c.issue_key = coupon_issue.issue_key AND coupon_issue.reason IS NULL`,
    [ws],
  );
  await refuse(d.perPersonLimit !== null ? 'per_person_limit' : 'code_conflict', 'code IS NULL');
  await insertCouponEvents(tx, ctx, 'Coupon Issued', 'SELECT code FROM coupon_issue WHERE code IS NOT NULL', []);
}

/** Codes to hand out, as a derived table (code, k) numbered from 1, and its parameters. */
interface CodeSource {
  sql: (p: (v: unknown) => string) => string;
  available: number;
}

function generatedSource(ctx: IssueContext, count: number, prefix: string | undefined): CodeSource {
  const codes = generateCodes(count, prefix);
  return {
    available: count,
    sql: (p) =>
      `(SELECT code, row_number() OVER (ORDER BY code) AS k FROM (SELECT unnest(${p(codes)}::${arrayCast(ctx.dialect, 'text')}) AS code) u)`,
  };
}

async function poolSource(ctx: IssueContext, count: number): Promise<CodeSource> {
  // Pool codes not issued yet, oldest upload first; the campaign lock keeps two issuers from taking the same ones.
  const open = (ws: string, cid: string) => `FROM coupon_pool p WHERE p.workspace_id = ${ws} AND p.campaign_id = ${cid}
    AND NOT EXISTS (SELECT 1 FROM coupon_codes c WHERE c.workspace_id = p.workspace_id AND c.code = p.code)`;
  const limit = Math.trunc(count);
  const [{ n }] = (await ctx.tx.query<{ n: number }>(`SELECT count(*) AS n FROM (SELECT 1 AS one ${open('$1', '$2')} LIMIT ${limit}) x`, [
    ctx.workspaceId,
    ctx.campaign.campaignId,
  ])) as [{ n: number }];
  return {
    available: Number(n),
    sql: (p) =>
      `(SELECT code, row_number() OVER (ORDER BY uploaded_at, code) AS k FROM (
         SELECT p.code, p.uploaded_at ${open(p(ctx.workspaceId), p(ctx.campaign.campaignId))} ORDER BY p.uploaded_at, p.code LIMIT ${limit}) u)`,
  };
}

async function insertCodes(ctx: IssueContext, source: CodeSource): Promise<void> {
  const t = ctx.terms;
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const dbl = ctx.dialect === 'duckdb' ? 'DOUBLE' : 'DOUBLE PRECISION';
  const codes = source.sql(p);
  const [ws, cid] = [p(ctx.workspaceId), p(ctx.campaign.campaignId)];
  // A row that would collide with a stored code (its issue key, the person's slot, or the code) is
  // left out. PostgreSQL does that with ON CONFLICT DO NOTHING, which also waits for a concurrent
  // issuer. DuckDB cannot be given ON CONFLICT here: on a table with three unique keys its cost
  // grows much faster than the rows (100,000 codes next to 100,000 stored took 45–55 s, against about
  // 2 s this way; docs/benchmarks.md, session 22). There anti-joins leave those rows out, and a
  // concurrent issuer makes the loser's commit fail (retryLostCommitRace, or the journey's next
  // tick). Rows of one statement never collide with each other: one per issue key and slot in
  // coupon_issue, and a generated code repeats within a million with odds of about 1e-8 (the
  // statement then fails and is redone with fresh codes).
  const stored = (alias: string, on: string) => `LEFT JOIN coupon_codes ${alias} ON ${alias}.workspace_id = ${ws} AND ${on}`;
  const guard =
    ctx.dialect === 'duckdb'
      ? `${stored('same_key', 'same_key.issue_key = x.issue_key')}
         ${stored('same_slot', `same_slot.campaign_id = ${cid} AND same_slot.user_key = x.user_key AND same_slot.person_seq = x.person_seq`)}
         ${stored('same_code', 'same_code.code = c.code')}
         WHERE same_key.issue_key IS NULL AND same_slot.code IS NULL AND same_code.code IS NULL`
      : 'ON CONFLICT DO NOTHING';
  await ctx.tx.query(
    `INSERT INTO coupon_codes (workspace_id, code, campaign_id, user_key, person_seq, issue_key, journey_id, instance_id, node_id,
       kind, value, max_discount, min_spend, cost, issued_at, valid_from, expires_at, state)
     SELECT CAST(${ws} AS INTEGER), c.code, CAST(${cid} AS BIGINT), x.user_key, x.person_seq, x.issue_key,
       CAST(${p(ctx.journeyId)} AS BIGINT), x.instance_id, CAST(${p(ctx.nodeId)} AS TEXT), CAST(${p(t.kind)} AS TEXT), x.value,
       CAST(${p(t.maxDiscount)} AS ${dbl}), CAST(${p(t.minSpend)} AS ${dbl}), ${costSql(t, 'x.value')},
       CAST(${p(ctx.now)} AS BIGINT), CAST(${p(t.validFrom)} AS BIGINT), CAST(${p(t.expiresAt)} AS BIGINT), 'issued'
     FROM (SELECT *, row_number() OVER (ORDER BY seq) AS k FROM coupon_issue WHERE reason IS NULL) x
     JOIN ${codes} c ON c.k = x.k
     ${guard}`,
    params as never,
  );
}
