import pg from 'pg';
import type { WakeChannel } from '../port.ts';

/** How long a dropped LISTEN connection waits before it connects again (the jobs' ticks cover the gap). */
const RECONNECT_MS = 1_000;

/**
 * PostgreSQL NOTIFY / LISTEN for the store's `notify` and `listen`: how a process that takes
 * requests wakes the engine or dispatcher running in another (`serve --role`). A notice is only a
 * wake-up — the work itself is found in the tables — so one lost while a connection is down costs
 * the time to the listener's next tick, nothing more.
 */
export class PostgresNotices {
  private readonly listeners = new Map<WakeChannel, () => void>();
  private readonly sending = new Map<WakeChannel, 'sending' | 'again'>();
  private client: Promise<pg.Client> | null = null;
  /** Which connection is current: a dropped one's late `end` must not drop its successor. */
  private generation = 0;
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly url: string,
    private readonly onError: (err: Error) => void,
  ) {}

  /** At most one NOTIFY per channel on its way; calls meanwhile fold into one more after it. */
  async notify(channel: WakeChannel): Promise<void> {
    if (this.sending.has(channel)) {
      this.sending.set(channel, 'again');
      return;
    }
    this.sending.set(channel, 'sending');
    try {
      do {
        this.sending.set(channel, 'sending');
        await this.pool.query(`NOTIFY ${channel}`);
      } while (this.sending.get(channel) === 'again');
    } finally {
      this.sending.delete(channel);
    }
  }

  /** Listens from now on, and calls `onNotice` once at once for what was notified before. */
  async listen(channel: WakeChannel, onNotice: () => void): Promise<void> {
    this.listeners.set(channel, onNotice);
    await (await this.connection()).query(`LISTEN ${channel}`);
    onNotice();
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = null;
    await client?.then((c) => c.end()).catch(() => {});
  }

  private connection(): Promise<pg.Client> {
    this.client ??= this.connect();
    return this.client;
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.url });
    const generation = ++this.generation;
    client.on('notification', (notice) => this.listeners.get(notice.channel as WakeChannel)?.());
    const lost = (err?: Error) => {
      if (this.closed || generation !== this.generation) return;
      this.generation++;
      this.client = null;
      this.onError(err ?? new Error('the LISTEN connection ended'));
      setTimeout(() => void this.relisten().catch((e: Error) => this.onError(e)), RECONNECT_MS).unref();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    try {
      await client.connect();
    } catch (err) {
      if (generation === this.generation) this.client = null;
      throw err;
    }
    return client;
  }

  /** After a dropped connection: a new one, listening on every channel again (and woken once, for what it missed). */
  private async relisten(): Promise<void> {
    if (this.closed) return;
    try {
      const client = await this.connection();
      for (const channel of this.listeners.keys()) await client.query(`LISTEN ${channel}`);
      for (const onNotice of this.listeners.values()) onNotice();
    } catch (err) {
      this.onError(err as Error);
      if (!this.closed) setTimeout(() => void this.relisten().catch((e: Error) => this.onError(e)), RECONNECT_MS).unref();
    }
  }
}
