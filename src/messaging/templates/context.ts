import { AppError } from '../../core/errors.ts';
import { type IdentityType, identityTypes } from '../../core/identities.ts';
import { keysIn, keysParam, type SqlExecutor } from '../../store/index.ts';

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
  /**
   * Lists by strategy (`recommendations.related`, `recommendations.segment_12`…): only those the
   * template names, computed for the whole batch before rendering (commerce/recommendations/templates.ts).
   */
  recommendations?: Record<string, ProductContext[]>;
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
  /** issued, reminded, redeemed or expired, when rendered (null in previews that do not say). */
  state: string | null;
  /** amount or percent (`value` is then a percentage). */
  kind: string | null;
  min_spend: number | null;
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

const jsonOf = (v: unknown): Record<string, unknown> =>
  typeof v === 'string' ? (JSON.parse(v) as Record<string, unknown>) : ((v as Record<string, unknown> | null) ?? {});

/**
 * Whether any of these template or partial sources may read `person.computed`. Liquid can only
 * name a variable by writing it, so a source without the word cannot read it.
 */
export const readsComputed = (sources: Iterable<string>): boolean => {
  for (const source of sources) if (source.includes('computed')) return true;
  return false;
};

/**
 * People as templates see them: identities, traits, computed traits and predictions, by the key
 * asked for. A key that was merged into another person resolves to the survivor; keys of no one are
 * missing from the map. Five queries whatever the number of people (the dispatcher renders in
 * batches); three with `computed: false`, when nothing will read `person.computed` (left empty).
 */
export async function loadPeople(
  db: SqlExecutor,
  workspaceId: number,
  userKeys: readonly number[],
  {
    computed: withComputed = true,
    identities: identityFilter,
  }: {
    computed?: boolean;
    /** Only these identity types (the dispatcher's: what addresses and templates use); default all. */
    identities?: ReadonlySet<IdentityType>;
  } = {},
): Promise<Map<number, PersonContext>> {
  const people = new Map<number, PersonContext>();
  if (userKeys.length === 0) return people;
  // The survivors of merged keys are looked up by key among the few merged ones: a plain self-join
  // on `merged_into` made DuckDB hash the whole users table (150 ms a batch at 2M people, not 20).
  const users = await db.query<{ asked: number; user_key: number; traits: unknown }>(
    `WITH asked AS MATERIALIZED (
       SELECT user_key, merged_into, traits FROM users WHERE workspace_id = $1 AND user_key IN ${keysIn(2)})
     SELECT a.user_key AS asked, COALESCE(s.user_key, a.user_key) AS user_key, COALESCE(s.traits, a.traits) AS traits
     FROM asked a LEFT JOIN (
       SELECT user_key, traits FROM users
       WHERE workspace_id = $1 AND user_key IN (SELECT merged_into FROM asked WHERE merged_into IS NOT NULL)) s ON s.user_key = a.merged_into`,
    [workspaceId, keysParam(userKeys)],
  );
  if (users.length === 0) return people;
  const keys = keysParam(users.map((u) => Number(u.user_key)));
  // On DuckDB this is a scan of every identity, probed against the keys: fewer types, fewer probes.
  const types = identityFilter ? [...identityFilter] : identityTypes;
  const [identities, computed, predictions] = await Promise.all([
    types.length === 0
      ? []
      : db.query<{ user_key: number; type: string; value: string }>(
          `SELECT user_key, type, value FROM identities WHERE workspace_id = $1 AND user_key IN ${keysIn(2)}${identityFilter ? ` AND type IN (${types.map((t) => `'${t}'`).join(', ')})` : ''}`,
          [workspaceId, keys],
        ),
    withComputed
      ? db.query<Record<string, unknown>>(`SELECT * FROM computed_traits WHERE workspace_id = $1 AND user_key IN ${keysIn(2)}`, [
          workspaceId,
          keys,
        ])
      : [],
    withComputed
      ? db.query<Record<string, unknown>>(`SELECT * FROM customer_predictions WHERE workspace_id = $1 AND user_key IN ${keysIn(2)}`, [
          workspaceId,
          keys,
        ])
      : [],
  ]);
  const byKey = new Map<number, PersonContext>();
  for (const u of users) {
    const key = Number(u.user_key);
    if (!byKey.has(key)) byKey.set(key, { traits: jsonOf(u.traits), computed: {} });
  }
  // As computedTraitsOf: computed traits and predictions side by side, with when each was computed.
  for (const [rows, at] of [
    [computed, 'traits_computed_at'],
    [predictions, 'predictions_computed_at'],
  ] as const) {
    for (const { workspace_id: _w, user_key, computed_at, ...rest } of rows) {
      const person = byKey.get(Number(user_key));
      if (person) Object.assign(person.computed, computedForTemplates({ ...rest, [at]: computed_at ?? null }));
    }
  }
  // The first value of each type in sort order (people rarely have two emails; the channel picks
  // its address itself). Chosen here rather than by ORDER BY, which doubled the query on DuckDB.
  for (const i of identities) {
    const person = byKey.get(Number(i.user_key));
    const type = identityTypes.find((t) => t === i.type);
    if (person && type && (person[type] === undefined || i.value < (person[type] as string))) person[type] = i.value;
  }
  for (const u of users) people.set(Number(u.asked), byKey.get(Number(u.user_key)) as PersonContext);
  return people;
}

/** One person (see loadPeople); null when there is no such person. */
export async function loadPerson(db: SqlExecutor, workspaceId: number, userKey: number): Promise<PersonContext | null> {
  return (await loadPeople(db, workspaceId, [userKey])).get(userKey) ?? null;
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
export function couponContext(c: {
  code: unknown;
  campaign?: unknown;
  value?: unknown;
  expires_at?: unknown;
  state?: unknown;
  kind?: unknown;
  min_spend?: unknown;
}): CouponContext {
  const expires = typeof c.expires_at === 'string' ? Date.parse(c.expires_at) : c.expires_at;
  return {
    code: String(c.code),
    campaign: typeof c.campaign === 'string' ? c.campaign : null,
    value: typeof c.value === 'number' ? c.value : null,
    expires_at: iso(expires),
    state: typeof c.state === 'string' ? c.state : null,
    kind: typeof c.kind === 'string' ? c.kind : null,
    min_spend: typeof c.min_spend === 'number' ? c.min_spend : null,
  };
}

export function requirePersonFound(person: PersonContext | null, userKey: number, path: string): PersonContext {
  if (!person) throw new AppError('not_found', `no person with key ${userKey}`, path);
  return person;
}
