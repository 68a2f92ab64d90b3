import type { ErrorBody } from '../../core/errors.ts';
import type { SqlExecutor } from '../../store/index.ts';
import { MAX_EVENT_BYTES, normalizeEvent } from '../normalize.ts';
import { claimColumns, evColumns, itemColumns, lookupOrd } from './staging.ts';

/** The invalid lines of a file: all of them counted, the first `max` problems kept. */
export class ErrorLog {
  readonly list: ErrorBody[] = [];
  badLines = 0;
  constructor(private readonly max = 100) {}

  /** Errors of line `n`; their paths are relative to the line ('' for the whole line). */
  add(n: number, errors: readonly ErrorBody[]): void {
    this.badLines++;
    for (const e of errors) {
      if (this.list.length >= this.max) break;
      this.list.push({ code: e.code, message: e.message, path: e.path ? `line ${n}: ${e.path}` : `line ${n}` });
    }
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The reference path: `normalizeEvent`, exactly as the API calls it, for every line the SQL
 * path does not take (all lines on PostgreSQL and for CSV and profile files). Valid lines are
 * appended to the staging tables in batches (one multi-row INSERT / appender call per table).
 */
export class JsStager {
  private ev: unknown[][] = [];
  private claims: unknown[][] = [];
  private items: unknown[][] = [];
  private inFlight: Promise<void> = Promise.resolve();
  /** Non-blank lines seen. */
  rows = 0;
  staged = 0;

  constructor(
    private readonly tx: SqlExecutor,
    private readonly workspaceId: number,
    private readonly receivedAt: number,
    private readonly errors: ErrorLog,
    private readonly batchSize = 5000,
  ) {}

  /** One line of NDJSON text (null: not UTF-8). Blank lines are not rows. */
  async addText(n: number, text: string | null): Promise<void> {
    if (text === null) {
      this.rows++;
      this.errors.add(n, [{ code: 'invalid_json', message: 'not UTF-8 text', path: '' }]);
      return;
    }
    if (text.trim() === '') return;
    this.rows++;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      this.errors.add(n, [{ code: 'invalid_json', message: `not valid JSON: ${(err as Error).message}`, path: '' }]);
      return;
    }
    // A line of up to 2000 UTF-16 units cannot serialise to more than 32 KB (see duckdb-json.ts).
    await this.add(n, raw, text.length <= 2000);
  }

  /** One event object (from a JSON line, a CSV row or a profile row). */
  async addObject(n: number, raw: unknown): Promise<void> {
    this.rows++;
    await this.add(n, raw, false);
  }

  /** Records a row that was already found invalid (e.g. a bad CSV cell). */
  reject(n: number, errors: readonly ErrorBody[]): void {
    this.rows++;
    this.errors.add(n, errors);
  }

  private async add(n: number, raw: unknown, small: boolean): Promise<void> {
    if (!isRecord(raw)) {
      this.errors.add(n, [{ code: 'invalid_request', message: 'must be a JSON object (one event per line)', path: '' }]);
      return;
    }
    if (!small && Buffer.byteLength(JSON.stringify(raw)) > MAX_EVENT_BYTES) {
      this.errors.add(n, [{ code: 'payload_too_large', message: `event is over ${MAX_EVENT_BYTES / 1024} KB`, path: '' }]);
      return;
    }
    let r: ReturnType<typeof normalizeEvent>;
    try {
      r = normalizeEvent(raw, [], { workspaceId: this.workspaceId, receivedAt: this.receivedAt, source: 'import' });
    } catch (err) {
      // Should normalizeEvent ever throw on a shape it does not expect, one unreadable line must
      // not abort the whole file.
      this.errors.add(n, [{ code: 'invalid_request', message: `could not be read: ${(err as Error).message}`, path: '' }]);
      return;
    }
    if (!r.ok) {
      this.errors.add(n, r.errors);
      return;
    }
    const e = r.event;
    // normalizeEvent invents a random id when there is none; imports derive one from the file.
    const messageId = raw.messageId === undefined ? null : e.messageId;
    this.ev.push([
      n,
      messageId,
      e.type,
      e.event,
      e.ts,
      e.sentAt,
      e.userId,
      e.anonymousId,
      e.orderId,
      e.total,
      e.currency,
      e.properties,
      e.context,
      e.integrations,
      e.traits,
    ]);
    for (const [i, c] of e.claims.entries()) this.claims.push([n, i, c.type, c.value]);
    if (e.previousId !== null) this.claims.push([n, lookupOrd, 'user_id', e.previousId]);
    for (const [i, it] of e.items.entries()) this.items.push([n, i, it.productId, it.category, it.price, it.quantity]);
    this.staged++;
    if (this.ev.length >= this.batchSize) await this.send();
  }

  /**
   * Hands the buffered rows to the database without waiting for them: the next batch is parsed
   * while the previous one is written (PostgreSQL works in its own process). At most one batch
   * is in flight, so memory stays bounded and a failure surfaces at the next call.
   */
  private async send(): Promise<void> {
    await this.inFlight;
    const [ev, claims, items] = [this.ev, this.claims, this.items];
    this.ev = [];
    this.claims = [];
    this.items = [];
    this.inFlight = (async () => {
      if (ev.length) await this.tx.append('imp_ev', evColumns, ev);
      if (claims.length) await this.tx.append('imp_claim', claimColumns, claims);
      if (items.length) await this.tx.append('imp_item', itemColumns, items);
    })();
    // Keep an early failure from being reported as unhandled before it is awaited.
    this.inFlight.catch(() => {});
  }

  /** Writes everything still buffered or in flight. */
  async flush(): Promise<void> {
    await this.send();
    await this.inFlight;
  }
}
