/**
 * Deterministic generator of realistic Segment-spec commerce traffic for the HTTP benchmark.
 * The load generator (child process) and the baseline (parent) run it with the same seed and
 * so see exactly the same events without shipping them between processes.
 *
 * Traffic model: `returningShare` of events come from known members drawn from a pool of
 * `users` (skewed: some people are far more active), each with their own device anonymousId;
 * the rest come from anonymous visitors, each browsing a few events before leaving. A small
 * share of anonymous events are sign-ups (identify with a new userId and the visitor's
 * anonymousId: the anonymous person becomes the member), and a small share are log-ins of
 * known members after browsing anonymously (Shopflow merges the stored anonymous person into
 * the member, moving their events).
 */

export interface GenOptions {
  seed: number;
  /** Size of the pool of returning members. */
  users: number;
  /** Timestamp of the first event (epoch ms); events are 5 ms apart. */
  startAt: number;
  returningShare?: number;
  /** Share of anonymous-visitor events that are sign-ups (a new userId for the visitor). */
  signupShare?: number;
  /** Share of anonymous-visitor events that are log-ins of a known member (identity merges). */
  loginShare?: number;
}

export interface GeneratedEvent {
  raw: Record<string, unknown>;
  /** A stable number for the person the event is about (the baseline's user_key). */
  personKey: number;
}

/** mulberry32: tiny, fast, good enough for traffic shapes. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const categories = [
  'Electronics > Phones > Smartphones',
  'Electronics > Audio > Headphones',
  'Home > Kitchen > Coffee Makers',
  'Fashion > Women > Dresses',
  'Fashion > Men > Sneakers',
  'Beauty > Skincare > Serums',
  'Sports > Outdoor > Tents',
  'Toys > Building > Bricks',
];
const agents = [
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36',
];
const locales = ['en-US', 'zh-CN', 'de-DE', 'fr-FR'];
const firstNames = ['Ana', 'Wei', 'Lukas', 'Chloé', 'Sam', 'Mei', 'Omar', 'Julia'];
const PRODUCTS = 5000;
const ANON_SLOTS = 2000;

export class EventGenerator {
  private readonly rand: () => number;
  private readonly returningShare: number;
  private readonly signupShare: number;
  private readonly loginShare: number;
  private readonly anonSlots: number[] = [];
  private nextAnon = 0;
  private nextSignup = 0;
  private nextOrder = 0;
  private i = 0;

  constructor(private readonly options: GenOptions) {
    this.rand = prng(options.seed);
    this.returningShare = options.returningShare ?? 0.7;
    this.signupShare = options.signupShare ?? 0.01;
    this.loginShare = options.loginShare ?? 0.005;
    for (let s = 0; s < ANON_SLOTS; s++) this.anonSlots.push(this.nextAnon++);
  }

  private int(n: number): number {
    return Math.floor(this.rand() * n);
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }

  private uuid(): string {
    const h = (n: number) =>
      Math.floor(this.rand() * 2 ** 32)
        .toString(16)
        .padStart(8, '0')
        .slice(0, n);
    return `${h(8)}-${h(4)}-4${h(3)}-a${h(3)}-${h(8)}${h(4)}`;
  }

  private product(): { product_id: string; name: string; category: string | undefined; price: number } {
    const p = this.int(PRODUCTS);
    return {
      product_id: `p${p}`,
      name: `Product ${p}`,
      category: categories[p % categories.length],
      price: 5 + (p % 200) + 0.99,
    };
  }

  private context(device: string): Record<string, unknown> {
    const path = `/products/p${this.int(PRODUCTS)}`;
    return {
      ip: `10.${this.int(256)}.${this.int(256)}.${this.int(256)}`,
      userAgent: this.pick(agents),
      locale: this.pick(locales),
      page: { path, referrer: 'https://www.google.com/' },
      device: { id: device },
    };
  }

  /** Traits of member k: email and phone are identities, the rest profile fields. */
  private traits(k: number, prefix: string, mobile: string): Record<string, unknown> {
    return {
      email: `${prefix}${k}@example.com`,
      phone: `+86 ${mobile}${String(k % 1e8).padStart(8, '0')}`,
      first_name: firstNames[k % firstNames.length],
      last_name: `Tester${k}`,
      country: 'CN',
      city: 'Shanghai',
      timezone: 'Asia/Shanghai',
      consent: { email: true, sms: k % 3 !== 0 },
    };
  }

  next(): GeneratedEvent {
    const i = this.i++;
    const timestamp = new Date(this.options.startAt + i * 5).toISOString();
    const base = { messageId: this.uuid(), timestamp };
    if (this.rand() < this.returningShare) {
      // Skewed towards low k: active members come back more often.
      const k = Math.floor(this.options.users * this.rand() ** 2);
      const who = { userId: `u${k}`, anonymousId: `a-u${k}` };
      const personKey = k;
      const r = this.rand();
      if (r < 0.08)
        return {
          personKey,
          raw: { type: 'identify', ...base, ...who, traits: this.traits(k, 'u', '138'), context: this.context(`d-u${k}`) },
        };
      return { personKey, raw: this.track(r, base, who, `d-u${k}`) };
    }
    const slot = this.int(ANON_SLOTS);
    const visitor = this.anonSlots[slot] as number;
    // A visitor leaves after ~4 events on average; a new one takes the slot.
    if (this.rand() < 0.25) this.anonSlots[slot] = this.nextAnon++;
    const personKey = 1e9 + visitor;
    const who = { anonymousId: `a-${this.options.seed}-${visitor}` };
    const r = this.rand();
    if (r < this.signupShare) {
      const s = this.nextSignup++;
      return {
        personKey,
        raw: {
          type: 'identify',
          ...base,
          ...who,
          userId: `s${this.options.seed}-${s}`,
          traits: this.traits(s, `s${this.options.seed}-`, '139'),
          context: this.context(`d-${this.options.seed}-${visitor}`),
        },
      };
    }
    if (r < this.signupShare + this.loginShare) {
      const k = Math.floor(this.options.users * this.rand() ** 2);
      return {
        personKey: k,
        raw: {
          type: 'identify',
          ...base,
          ...who,
          userId: `u${k}`,
          traits: this.traits(k, 'u', '138'),
          context: this.context(`d-${this.options.seed}-${visitor}`),
        },
      };
    }
    return { personKey, raw: this.track(r, base, who, `d-${this.options.seed}-${visitor}`) };
  }

  private track(r: number, base: object, who: object, device: string): Record<string, unknown> {
    const context = this.context(device);
    if (r < 0.12) return { type: 'page', ...base, ...who, name: 'Home', properties: { path: '/', title: 'Shop' }, context };
    if (r < 0.7)
      return { type: 'track', ...base, ...who, event: 'Product Viewed', properties: { ...this.product(), currency: 'USD' }, context };
    if (r < 0.9)
      return {
        type: 'track',
        ...base,
        ...who,
        event: 'Product Added',
        properties: { ...this.product(), quantity: 1 + this.int(2), currency: 'USD' },
        context,
      };
    const products = Array.from({ length: 1 + this.int(3) }, () => ({ ...this.product(), quantity: 1 + this.int(2) }));
    const total = Math.round(products.reduce((s, p) => s + p.price * p.quantity, 0) * 100) / 100;
    return {
      type: 'track',
      ...base,
      ...who,
      event: 'Order Completed',
      properties: {
        order_id: `o${this.options.seed}-${this.nextOrder++}`,
        total,
        currency: 'USD',
        coupon: r < 0.93 ? 'WELCOME10' : undefined,
        products,
      },
      context,
    };
  }
}

/** The body of one `/v1/batch` request, as a Segment library would send it. */
export function batchBody(events: readonly GeneratedEvent[], sentAt: number): string {
  return JSON.stringify({
    batch: events.map((e) => e.raw),
    sentAt: new Date(sentAt).toISOString(),
    context: { library: { name: 'analytics-node', version: '2.1.0' } },
  });
}
