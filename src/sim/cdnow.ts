import { readFile } from 'node:fs/promises';
import type { Progress } from '../cli/progress.ts';
import type { Product } from '../commerce/index.ts';
import { shareable } from './ndjson.ts';
import type { RawEvent } from './raw-events.ts';
import type { EventSink } from './sinks.ts';

/**
 * The CDNOW purchase history (Fader & Hardie): real repeat-buying data, the classic test of
 * RFM / BG-NBD models. Lines are `customer_id date(YYYYMMDD) number_of_cds dollar_value`,
 * whitespace separated, with a header line. Original dates are kept (1997-01-01..1998-06-30);
 * every purchase is at noon UTC of its day because the data has no time of day.
 */

export const cdnowProduct: Product = {
  product_id: 'cdnow-cd',
  name: 'CD (CDNOW)',
  category: 'Music > CDs',
  properties: { source: 'CDNOW', note: 'one product stands for every CD: the data has no titles' },
};

export interface CdnowRow {
  customer: number;
  /** YYYYMMDD as in the file. */
  date: string;
  cds: number;
  value: number;
}

/** Parses the file; throws naming the line when a row is malformed (a truncated download). */
export function parseCdnow(text: string): CdnowRow[] {
  const rows: CdnowRow[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || !/^\d+$/.test(f[0]!)) return; // header or blank line
    const [customer, date, cds, value] = [Number(f[0]), f[1]!, Number(f[2]), Number(f[3])];
    if (!/^\d{8}$/.test(date) || !Number.isInteger(cds) || cds < 1 || !Number.isFinite(value) || value < 0) {
      throw new Error(`CDNOW line ${i + 1} is malformed: "${line.trim()}"`);
    }
    rows.push({ customer, date, cds, value });
  });
  return rows;
}

const context = shareable({ source: 'CDNOW' });

const noonUtc = (date: string) => Date.UTC(Number(date.slice(0, 4)), Number(date.slice(4, 6)) - 1, Number(date.slice(6, 8)), 12);

/**
 * One customer's events: an identify just before the first purchase, then one `Order Completed`
 * per row. Order ids are `cdnow-<customer>-<date>-<n>` (n counts same-day orders), message
 * ids are derived from them: a re-import is deduplicated.
 */
export function customerEvents(customer: number, rows: readonly CdnowRow[]): RawEvent[] {
  const userId = `cdnow-${customer}`;
  const sorted = [...rows].sort((a, b) => a.date.localeCompare(b.date));
  const first = noonUtc(sorted[0]!.date);
  const events: RawEvent[] = [
    {
      type: 'identify',
      messageId: `cdnow-${customer}-identify`,
      userId,
      traits: { cdnow_customer_id: customer, createdAt: new Date(first).toISOString() },
      timestamp: new Date(first - 60_000).toISOString(),
      context,
    },
  ];
  const sameDay = new Map<string, number>();
  for (const r of sorted) {
    const n = (sameDay.get(r.date) ?? 0) + 1;
    sameDay.set(r.date, n);
    const orderId = `cdnow-${customer}-${r.date}-${n}`;
    events.push({
      type: 'track',
      messageId: `${orderId}-completed`,
      userId,
      event: 'Order Completed',
      properties: {
        order_id: orderId,
        total: r.value,
        currency: 'USD',
        products: [
          {
            product_id: cdnowProduct.product_id,
            category: cdnowProduct.category,
            price: Math.round((r.value / r.cds) * 100) / 100,
            quantity: r.cds,
          },
        ],
      },
      timestamp: new Date(noonUtc(r.date)).toISOString(),
      context,
    });
  }
  return events;
}

/** Streams the whole file into the sink, customer by customer; returns the number of customers. */
export async function importCdnow(file: string, sink: EventSink, progress: Progress): Promise<number> {
  const rows = parseCdnow(await readFile(file, 'utf8'));
  const byCustomer = new Map<number, CdnowRow[]>();
  for (const r of rows) {
    const list = byCustomer.get(r.customer);
    if (list) list.push(r);
    else byCustomer.set(r.customer, [r]);
  }
  const customers = [...byCustomer.keys()].sort((a, b) => a - b);
  progress.start('Importing CDNOW', customers.length);
  let done = 0;
  for (const c of customers) {
    await sink.write(customerEvents(c, byCustomer.get(c)!));
    if (++done % 500 === 0) progress.update(done);
  }
  progress.update(done);
  progress.stop();
  return customers.length;
}
