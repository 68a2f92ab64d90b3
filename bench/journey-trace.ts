/**
 * `--trace-sql` for the journeys benchmark: like store-trace.ts, but it also follows
 * `store.session(…)` (the journey engine runs every tick on a session of its own) and keys each
 * statement by its start and its FROM clause, so the engine's several `INSERT INTO events …`
 * (Journey Entered / Step / Exited) are told apart.
 */
import type { Session, SqlExecutor, Store } from '../src/store/index.ts';

interface Tally {
  n: number;
  ms: number;
}

/** A statement's key: its start and, for a long statement reading a derived table, the start of that table. */
export function statementKey(sql: string): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  const head = flat.slice(0, 70);
  const i = flat.indexOf('FROM (SELECT ');
  return i >= 70 ? `${head} … ${flat.slice(i, i + 56)}` : head;
}

export class JourneyTrace {
  private readonly tallies = new Map<string, Tally>();
  private started = performance.now();

  /** Starts a measured phase: forgets what was recorded before. */
  begin(): void {
    this.tallies.clear();
    this.started = performance.now();
  }

  private add(key: string, ms: number) {
    const t = this.tallies.get(key) ?? { n: 0, ms: 0 };
    t.n++;
    t.ms += ms;
    this.tallies.set(key, t);
  }

  private async timed<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      this.add(key, performance.now() - t);
    }
  }

  private executor(ex: SqlExecutor): SqlExecutor {
    return {
      query: (sql, params) => this.timed(statementKey(sql), () => ex.query(sql, params)),
      append: (table, columns, rows) => this.timed(`append ${table}`, () => ex.append(table, columns, rows)),
    } as SqlExecutor;
  }

  private transaction(run: Session['transaction']): Session['transaction'] {
    return (fn) =>
      this.timed('transaction (total)', async () => {
        let bodyEnd = 0;
        const result = await run(async (tx) => {
          const r = await fn(this.executor(tx));
          bodyEnd = performance.now();
          return r;
        });
        this.add('COMMIT', performance.now() - bodyEnd);
        return result;
      });
  }

  /** A Store whose statements (also those of its sessions and their transactions) record into this trace. */
  wrap(store: Store): Store {
    const traced = this.executor(store);
    const session: Store['session'] = (fn) =>
      store.session((s) => fn({ ...this.executor(s), transaction: this.transaction((inner) => s.transaction(inner)) }));
    return new Proxy(store, {
      get: (target, prop, receiver) => {
        if (prop === 'query') return traced.query;
        if (prop === 'append') return traced.append;
        if (prop === 'transaction') return this.transaction((fn) => target.transaction(fn));
        if (prop === 'session') return session;
        return Reflect.get(target, prop, receiver);
      },
    });
  }

  /** Time per statement, largest first, as % of the traced wall time. */
  summary(title: string): string {
    const wall = performance.now() - this.started;
    const lines = [...this.tallies]
      .sort((a, b) => b[1].ms - a[1].ms)
      .map(
        ([k, t]) =>
          `  ${((t.ms / wall) * 100).toFixed(1).padStart(5)}%  ${t.ms.toFixed(0).padStart(7)} ms  ${String(t.n).padStart(6)}×  ${k}`,
      );
    return `${title}: store time over ${(wall / 1000).toFixed(2)} s (statements inside transactions are also counted in them):\n${lines.join('\n')}`;
  }
}
