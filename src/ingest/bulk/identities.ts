import { AppError } from '../../core/errors.ts';
import { type Dialect, reserveKeys, type SqlExecutor } from '../../store/index.ts';
import { type ComplexOutcome, resolveComplex } from './complex-identities.ts';
import { analyze } from './staging.ts';

/**
 * Identity resolution for a whole file, set-at-a-time, with the outcome resolve-identities.ts
 * gives when the file is sent as one batch (read its header for the policy).
 *
 * The identities the file names and the people already holding them form a graph: an event
 * links its claims, and a stored person links the identities they hold. In a connected
 * component with at most one stored person, at most one user_id (counting the one that person
 * holds) and no alias, no conflict and no recorded merge can happen, and everything ends up as
 * one person: the stored one, or a single new one (people first seen in the file are absorbed,
 * not merged). That covers nearly every component of a real file, sign-ups included, and it is
 * pure SQL. The rest (two stored people meeting, two user_ids, aliases) go to
 * `resolveIdentities` itself, event by event in file order.
 *
 * Result: imp_person (line → user_key), imp_newuser (people to create), new identities of
 * simple components (imp_idc rows without stored_key, via imp_cperson) and of complex ones
 * (imp_xident), plus imp_remap / imp_tsrc for merges of stored people.
 */
export async function resolveInBulk(tx: SqlExecutor, dialect: Dialect, workspaceId: number, now: number): Promise<ComplexOutcome> {
  await tx.query(
    `CREATE TEMP TABLE imp_id AS
     SELECT row_number() OVER () AS id, c.type, c.value, i.user_key AS stored_key
     FROM (SELECT DISTINCT type, value FROM imp_claim) c
     LEFT JOIN identities i ON i.workspace_id = $1 AND i.type = c.type AND i.value = c.value`,
    [workspaceId],
  );
  await analyze(tx, dialect, 'imp_claim', 'imp_id');
  await tx.query(
    'CREATE TEMP TABLE imp_ec AS SELECT c.n, c.ord, d.id FROM imp_claim c JOIN imp_id d ON d.type = c.type AND d.value = c.value',
  );
  await analyze(tx, dialect, 'imp_ec');
  await tx.query(
    `CREATE TEMP TABLE imp_edge AS
     WITH e AS (
       SELECT p.id AS a, o.id AS b FROM imp_ec p JOIN imp_ec o ON o.n = p.n AND o.ord > 0 WHERE p.ord = 0 AND o.id <> p.id
       UNION
       SELECT d.id, s.first FROM imp_id d
       JOIN (SELECT stored_key, min(id) AS first FROM imp_id WHERE stored_key IS NOT NULL GROUP BY stored_key HAVING count(*) > 1) s
         ON s.stored_key = d.stored_key
       WHERE d.id <> s.first)
     SELECT a, b FROM e UNION SELECT b, a FROM e`,
  );
  await labelComponents(tx, dialect);

  await tx.query('CREATE TEMP TABLE imp_idc AS SELECT d.*, coalesce(l.lbl, d.id) AS comp FROM imp_id d LEFT JOIN imp_lbl l ON l.id = d.id');
  await tx.query(
    `CREATE TEMP TABLE imp_evc AS
     SELECT e.n, e.type, coalesce(l.lbl, p.id) AS comp FROM imp_ev e JOIN imp_ec p ON p.n = e.n AND p.ord = 0 LEFT JOIN imp_lbl l ON l.id = p.id`,
  );
  // user_ids of a component: those the file names and those its stored person already holds.
  await tx.query(
    `CREATE TEMP TABLE imp_comp AS
     SELECT c.comp, coalesce(s.stored, 0) AS stored, s.stored_key,
            NOT c.has_alias AND coalesce(s.stored, 0) <= 1 AND coalesce(u.uids, 0) <= 1 AS simple
     FROM (SELECT comp, bool_or(type = 'alias') AS has_alias FROM imp_evc GROUP BY comp) c
     LEFT JOIN (SELECT comp, count(DISTINCT stored_key) AS stored, min(stored_key) AS stored_key
                FROM imp_idc WHERE stored_key IS NOT NULL GROUP BY comp) s ON s.comp = c.comp
     LEFT JOIN (SELECT comp, count(DISTINCT value) AS uids FROM (
                  SELECT comp, value FROM imp_idc WHERE type = 'user_id'
                  UNION
                  SELECT k.comp, h.value FROM (SELECT DISTINCT comp, stored_key FROM imp_idc WHERE stored_key IS NOT NULL) k
                  JOIN identities h ON h.workspace_id = $1 AND h.user_key = k.stored_key AND h.type = 'user_id') x
                GROUP BY comp) u ON u.comp = c.comp`,
    [workspaceId],
  );
  await analyze(tx, dialect, 'imp_idc', 'imp_evc', 'imp_comp');
  // New people get keys from a range reserved in one statement, as the API's do.
  const [fresh] = await tx.query<{ n: number }>('SELECT count(*) AS n FROM imp_comp WHERE simple AND stored = 0');
  const first = Number(fresh!.n) > 0 ? await reserveKeys(tx, 'user_key', Number(fresh!.n)) : 0;
  await tx.query(
    `CREATE TEMP TABLE imp_cperson AS
     SELECT comp, stored_key AS user_key, false AS is_new FROM imp_comp WHERE simple AND stored = 1
     UNION ALL
     SELECT comp, CAST($1 AS BIGINT) - 1 + row_number() OVER (ORDER BY comp) AS user_key, true AS is_new FROM imp_comp WHERE simple AND stored = 0`,
    [first],
  );
  await tx.query('CREATE TEMP TABLE imp_person AS SELECT v.n, p.user_key FROM imp_evc v JOIN imp_cperson p ON p.comp = v.comp');
  await tx.query('CREATE TEMP TABLE imp_newuser AS SELECT user_key FROM imp_cperson WHERE is_new');
  return resolveComplex(tx, workspaceId, now);
}

/**
 * Connected components by label propagation: every node takes the smallest label among its
 * neighbours, then jumps to its label's label (so long chains converge in few rounds).
 * Only nodes with edges are stored; a node without edges is its own component.
 */
async function labelComponents(tx: SqlExecutor, dialect: Dialect): Promise<void> {
  await tx.query('CREATE TEMP TABLE imp_lbl AS SELECT DISTINCT a AS id, a AS lbl FROM imp_edge');
  await analyze(tx, dialect, 'imp_edge', 'imp_lbl');
  for (let round = 0; ; round++) {
    // Done when no node has a neighbour with a smaller label. (Written with the aggregate
    // first: a plain three-way join lets the planner pair the two label sides on `<`.)
    const smallest = '(SELECT e.a, min(l.lbl) AS lbl FROM imp_edge e JOIN imp_lbl l ON l.id = e.b GROUP BY e.a)';
    const [open] = await tx.query<{ c: number }>(
      `SELECT count(*) AS c FROM ${smallest} m JOIN imp_lbl t ON t.id = m.a WHERE m.lbl < t.lbl`,
    );
    if (Number(open?.c ?? 0) === 0) return;
    if (round > 200) throw new AppError('internal', 'identity components did not converge');
    await tx.query(`UPDATE imp_lbl SET lbl = m.lbl FROM ${smallest} m WHERE imp_lbl.id = m.a AND m.lbl < imp_lbl.lbl`);
    await tx.query('UPDATE imp_lbl AS t SET lbl = p.lbl FROM imp_lbl p WHERE t.lbl = p.id AND p.lbl < t.lbl');
  }
}
