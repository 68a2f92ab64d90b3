/**
 * `--trace-sql`: wraps a Store so every statement, append, transaction and commit of the
 * measured phase is timed — also those of its sessions (the journey engine runs each tick on a
 * session of its own) — then prints where the time goes. Everything else (dialect, caches,
 * dedupe index) passes through untouched.
 */
import type { Session, SqlExecutor, Store } from '../src/store/index.ts';

interface Tally {
  n: number;
  ms: number;
  rows: number;
}

/**
 * A statement's key: its start and, for a long statement reading a derived table, the start of
 * that table (so the journey engine's several `INSERT INTO events … FROM (SELECT …)` are told apart).
 */
export function statementKey(sql: string): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  const head = flat.slice(0, 70);
  const i = flat.indexOf('FROM (SELECT ');
  return i >= 70 ? `${head} … ${flat.slice(i, i + 56)}` : head;
}

export class StoreTrace {
  private readonly tallies = new Map<string, Tally>();
  private started = performance.now();

  /** Starts the measured phase: forgets what was recorded before (setup statements). */
  begin(): void {
    this.tallies.clear();
    this.started = performance.now();
  }

  private add(key: string, ms: number, rows = 0) {
    const t = this.tallies.get(key) ?? { n: 0, ms: 0, rows: 0 };
    t.n++;
    t.ms += ms;
    t.rows += rows;
    this.tallies.set(key, t);
  }

  private async timed<T>(key: string, rows: number, fn: () => Promise<T>): Promise<T> {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      this.add(key, performance.now() - t, rows);
    }
  }

  private executor(ex: SqlExecutor): SqlExecutor {
    return {
      query: (sql, params) => this.timed(statementKey(sql), 0, () => ex.query(sql, params)),
      execute: (sql, params) => this.timed(statementKey(sql), 0, () => ex.execute(sql, params)),
      append: (table, columns, rows) => this.timed(`append ${table}`, rows.length, () => ex.append(table, columns, rows)),
    } as SqlExecutor;
  }

  private transaction(run: Session['transaction']): Session['transaction'] {
    return (fn) =>
      this.timed('transaction (total)', 0, async () => {
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

  /** A Store that records into this trace (its sessions and their transactions too). */
  wrap(store: Store): Store {
    const traced = this.executor(store);
    const session: Store['session'] = (fn) =>
      store.session((s) =>
        fn({
          ...this.executor(s),
          transaction: this.transaction((inner) => s.transaction(inner)),
          once: (sql) => this.timed(statementKey(sql), 0, () => s.once(sql)),
        }),
      );
    return new Proxy(store, {
      get: (target, prop, receiver) => {
        if (prop === 'query') return traced.query;
        if (prop === 'append') return traced.append;
        if (prop === 'execute') return traced.execute;
        if (prop === 'transaction') return this.transaction((fn) => target.transaction(fn));
        if (prop === 'session') return session;
        return Reflect.get(target, prop, receiver);
      },
    });
  }

  /** Time per statement kind, largest first, as % of the traced wall time. */
  summary(title = 'store time'): string {
    const wall = performance.now() - this.started;
    const lines = [...this.tallies]
      .sort((a, b) => b[1].ms - a[1].ms)
      .map(([k, t]) => {
        const pct = ((t.ms / wall) * 100).toFixed(1).padStart(5);
        const rows = t.rows ? `  ${t.rows} rows` : '';
        return `  ${pct}%  ${t.ms.toFixed(0).padStart(7)} ms  ${String(t.n).padStart(6)}×  ${k}${rows}`;
      });
    return `${title} over ${(wall / 1000).toFixed(1)} s measured (statements inside transactions are also counted in them):\n${lines.join('\n')}`;
  }
}
