/**
 * What `Session.once` has run on each connection. Keyed by the driver's connection object, so a
 * connection the pool replaces starts with nothing set up.
 */
export class ConnectionSetup<C extends object> {
  private readonly done = new WeakMap<C, Set<string>>();

  async once(conn: C, sql: string, run: (sql: string) => Promise<unknown>): Promise<void> {
    const done = this.done.get(conn) ?? new Set<string>();
    if (done.has(sql)) return;
    await run(sql);
    done.add(sql);
    this.done.set(conn, done);
  }

  /** After a rollback: what was set up inside the transaction is gone with it. */
  forget(conn: C): void {
    this.done.delete(conn);
  }
}
