import { AppError } from '../../core/errors.ts';
import type { Dialect } from '../../store/index.ts';

/**
 * Runs `attempt` (one whole transaction that issues codes) again when it lost a commit race on
 * DuckDB. DuckDB checks unique keys against other transactions only at commit: when a journey step
 * (in its own transaction) gave the same person a code of the same campaign first, this commit
 * fails as a whole, having written nothing. The next attempt sees the winner's code and answers by
 * it (the per-person limit, say). PostgreSQL never gets here: the campaign row lock makes the
 * second issuer wait and then see the first one's code.
 */
export async function retryLostCommitRace<T>(dialect: Dialect, attempt: () => Promise<T>, tries = 5): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      // Our own refusals (AppError) are answers, not races.
      const lost =
        dialect === 'duckdb' &&
        err instanceof Error &&
        !(err instanceof AppError) &&
        /TransactionContext Error|constraint violation/i.test(err.message);
      if (!lost || n >= tries) throw err;
      await new Promise((resolve) => setTimeout(resolve, 10 * n));
    }
  }
}
