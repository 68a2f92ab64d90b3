/** The fitted BG/NBD parameters of a workspace, kept in `prediction_models` (model = 'bgnbd'). */
import { z } from 'zod';
import type { SqlExecutor } from '../../store/index.ts';
import type { BgNbdParams } from './bgnbd.ts';

export const BGNBD_MODEL = 'bgnbd';

export const storedBgNbdSchema = z.object({
  r: z.number().positive().describe('Shape of the Gamma distribution of purchase rates'),
  alpha: z.number().positive().describe('Scale of the Gamma distribution of purchase rates, in days'),
  a: z.number().positive().describe('Beta distribution of the drop-out probability: a'),
  b: z.number().positive().describe('Beta distribution of the drop-out probability: b'),
  timeUnit: z.literal('day').describe('Unit of alpha and of every time in the summaries'),
});

export interface StoredModel {
  params: BgNbdParams;
  customers: number;
  logLikelihood: number | null;
  fittedAt: number;
}

export async function loadModel(db: SqlExecutor, workspaceId: number): Promise<StoredModel | null> {
  const [row] = await db.query<{ params: unknown; customers: number; log_likelihood: number | null; fitted_at: number }>(
    'SELECT params, customers, log_likelihood, fitted_at FROM prediction_models WHERE workspace_id = $1 AND model = $2',
    [workspaceId, BGNBD_MODEL],
  );
  if (!row) return null;
  // DuckDB returns JSON as text, PostgreSQL's JSONB as an object.
  const raw = typeof row.params === 'string' ? JSON.parse(row.params) : row.params;
  const { r, alpha, a, b } = storedBgNbdSchema.parse(raw);
  return {
    params: { r, alpha, a, b },
    customers: Number(row.customers),
    logLikelihood: row.log_likelihood,
    fittedAt: Number(row.fitted_at),
  };
}

/** Replaces the workspace's model; call inside the transaction that writes the predictions. */
export async function saveModel(tx: SqlExecutor, workspaceId: number, model: StoredModel): Promise<void> {
  const params = storedBgNbdSchema.parse({ ...model.params, timeUnit: 'day' });
  await tx.query('DELETE FROM prediction_models WHERE workspace_id = $1 AND model = $2', [workspaceId, BGNBD_MODEL]);
  await tx.query(
    'INSERT INTO prediction_models (workspace_id, model, params, customers, log_likelihood, fitted_at) VALUES ($1, $2, $3, $4, $5, $6)',
    [workspaceId, BGNBD_MODEL, JSON.stringify(params), model.customers, model.logLikelihood, model.fittedAt],
  );
}
