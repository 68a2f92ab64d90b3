/**
 * `--trace-sql`: wraps a Store so every statement, append, transaction and commit of the
 * measured phase is timed, then prints where the write path spends its time. Everything
 * else (dialect, caches, dedupe index) passes through untouched.
 */
import type { SqlExecutor, Store } from '../src/store/index.ts';

interface Tally {
  n: number;
  ms: number;
  rows: number;
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
      query: (sql, params) => this.timed(sql.replace(/\s+/g, ' ').trim().slice(0, 70), 0, () => ex.query(sql, params)),
      append: (table, columns, rows) => this.timed(`append ${table}`, rows.length, () => ex.append(table, columns, rows)),
    } as SqlExecutor;
  }

  /** A Store that records into this trace. */
  wrap(store: Store): Store {
    const transaction: Store['transaction'] = (fn) =>
      this.timed('transaction (total)', 0, async () => {
        let bodyEnd = 0;
        const result = await store.transaction(async (tx) => {
          const r = await fn(this.executor(tx));
          bodyEnd = performance.now();
          return r;
        });
        this.add('COMMIT', performance.now() - bodyEnd);
        return result;
      });
    return new Proxy(store, {
      get: (target, prop, receiver) => {
        if (prop === 'transaction') return transaction;
        if (prop === 'query' || prop === 'append') return this.executor(target)[prop];
        return Reflect.get(target, prop, receiver);
      },
    });
  }

  /** Time per statement kind, largest first, as % of the traced wall time. */
  summary(): string {
    const wall = performance.now() - this.started;
    const lines = [...this.tallies]
      .sort((a, b) => b[1].ms - a[1].ms)
      .map(([k, t]) => {
        const pct = ((t.ms / wall) * 100).toFixed(1).padStart(5);
        const rows = t.rows ? `  ${t.rows} rows` : '';
        return `  ${pct}%  ${t.ms.toFixed(0).padStart(7)} ms  ${String(t.n).padStart(6)}×  ${k}${rows}`;
      });
    return `store time over ${(wall / 1000).toFixed(1)} s measured (statements inside transactions are also counted in them):\n${lines.join('\n')}`;
  }
}
