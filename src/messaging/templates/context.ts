import { AppError } from '../../core/errors.ts';
import { identityTypes } from '../../core/identities.ts';
import { computedTraitsOf } from '../../profiles/index.ts';
import type { SqlExecutor, Store } from '../../store/index.ts';

/**
 * What a template sees. Everything is plain JSON data (no functions, no class instances), and
 * instants are ISO strings so that Liquid's `date` filter reads them.
 */
export interface RenderContext {
  /** Identities by type (`person.email`, `person.phone`, `person.user_id`, …), `traits` and `computed` (computed traits and predictions). */
  person: PersonContext;
  /** Properties of the event that triggered the journey (e.g. the unpaid order). */
  event: Record<string, unknown>;
  coupon: CouponContext | null;
  products: ProductContext[];
  journey: { id: number; node: string } | null;
  /** A placeholder the delivering channel replaces with the person's signed unsubscribe link. */
  unsubscribe_url: string;
  /** The render time, ISO. */
  now: string;
}

export type PersonContext = Partial<Record<(typeof identityTypes)[number], string>> & {
  traits: Record<string, unknown>;
  computed: Record<string, unknown>;
};

export interface CouponContext {
  code: string;
  campaign: string | null;
  value: number | null;
  expires_at: string | null;
}

export interface ProductContext {
  id: string;
  name: string;
  price: number | null;
  category: string;
  image_url: string | null;
  properties: Record<string, unknown>;
}

/**
 * Survives HTML and JSON escaping unchanged (letters and `%` only), so the channel can find and
 * replace it in any rendered field once it knows the message's unsubscribe token.
 */
export const UNSUBSCRIBE_URL_PLACEHOLDER = '%%unsubscribe_url%%';

const iso = (ms: unknown): string | null => (typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : null);

/** Epoch-millisecond instants of computed traits (`last_order_at`, …) as ISO strings, the rest as stored. */
function computedForTemplates(computed: Record<string, unknown> | null): Record<string, unknown> {
  if (!computed) return {};
  return Object.fromEntries(Object.entries(computed).map(([k, v]) => [k, k.endsWith('_at') && typeof v === 'number' ? iso(v) : v]));
}

/**
 * A person as templates see them: identities, traits, computed traits and predictions. A key that
 * was merged into another person resolves to the survivor. Null when there is no such person.
 */
export async function loadPerson(store: Store, workspaceId: number, userKey: number): Promise<PersonContext | null> {
  const [user] = await store.query<{ user_key: number; traits: Record<string, unknown> | string | null }>(
    `SELECT COALESCE(s.user_key, u.user_key) AS user_key, COALESCE(s.traits, u.traits) AS traits
     FROM users u LEFT JOIN users s ON s.workspace_id = u.workspace_id AND s.user_key = u.merged_into
     WHERE u.workspace_id = $1 AND u.user_key = $2`,
    [workspaceId, userKey],
  );
  if (!user) return null;
  const key = Number(user.user_key);
  const [identities, computed] = await Promise.all([
    store.query<{ type: string; value: string }>(
      'SELECT type, value FROM identities WHERE workspace_id = $1 AND user_key = $2 ORDER BY type, value',
      [workspaceId, key],
    ),
    computedTraitsOf(store, workspaceId, key),
  ]);
  const person: PersonContext = {
    traits: typeof user.traits === 'string' ? (JSON.parse(user.traits) as Record<string, unknown>) : (user.traits ?? {}),
    computed: computedForTemplates(computed),
  };
  // The first value of each type (people rarely have two emails; the channel picks its address itself).
  for (const i of identities) {
    const type = identityTypes.find((t) => t === i.type);
    if (type && person[type] === undefined) person[type] = i.value;
  }
  return person;
}

/** Catalog products by id, in the order asked for; ids no longer in the catalog are left out. */
export async function loadProducts(db: SqlExecutor, workspaceId: number, ids: readonly string[]): Promise<ProductContext[]> {
  if (ids.length === 0) return [];
  const rows = await db.query<{
    product_id: string;
    name: string;
    category_path: string;
    price: number | null;
    image_url: string | null;
    properties: Record<string, unknown> | string | null;
  }>(
    `SELECT product_id, name, category_path, price, image_url, properties FROM products
     WHERE workspace_id = $1 AND product_id IN (SELECT unnest($2::text[]))`,
    [workspaceId, [...ids]],
  );
  const byId = new Map(rows.map((r) => [r.product_id, r]));
  return ids.flatMap((id) => {
    const r = byId.get(id);
    if (!r) return [];
    const properties = typeof r.properties === 'string' ? (JSON.parse(r.properties) as Record<string, unknown>) : (r.properties ?? {});
    return [{ id: r.product_id, name: r.name, price: r.price, category: r.category_path, image_url: r.image_url, properties }];
  });
}

/** A coupon as issued by a journey's coupon node (`expires_at` in epoch ms) or given to a preview (ISO or ms). */
export function couponContext(c: { code: unknown; campaign?: unknown; value?: unknown; expires_at?: unknown }): CouponContext {
  const expires = typeof c.expires_at === 'string' ? Date.parse(c.expires_at) : c.expires_at;
  return {
    code: String(c.code),
    campaign: typeof c.campaign === 'string' ? c.campaign : null,
    value: typeof c.value === 'number' ? c.value : null,
    expires_at: iso(expires),
  };
}

/**
 * The coupon a message goes with: the latest one its journey instance issued before it (a coupon
 * node writes its own outbox row; the send node after it refers to "the coupon" implicitly).
 */
export async function latestCoupon(
  db: SqlExecutor,
  workspaceId: number,
  instanceId: number,
  before: number | null,
): Promise<CouponContext | null> {
  const [row] = await db.query<{ payload: Record<string, unknown> | string }>(
    `SELECT payload FROM outbox WHERE workspace_id = $1 AND instance_id = $2 AND action = 'coupon' ${before === null ? '' : 'AND created_at <= $3'}
     ORDER BY created_at DESC, message_key DESC LIMIT 1`,
    before === null ? [workspaceId, instanceId] : [workspaceId, instanceId, before],
  );
  if (!row) return null;
  const payload = typeof row.payload === 'string' ? (JSON.parse(row.payload) as Record<string, unknown>) : row.payload;
  return payload.code === undefined || payload.code === null ? null : couponContext(payload as { code: unknown });
}

export function requirePersonFound(person: PersonContext | null, userKey: number, path: string): PersonContext {
  if (!person) throw new AppError('not_found', `no person with key ${userKey}`, path);
  return person;
}
