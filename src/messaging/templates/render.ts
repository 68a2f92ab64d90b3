import { couponStatesOf } from '../../commerce/coupons/index.ts';
import {
  type PersonAt,
  referencedRecommendations,
  templateRecommendations,
  triggerProductsOf,
} from '../../commerce/recommendations/index.ts';
import { AppError } from '../../core/errors.ts';
import { keysIn, keysParam, type SqlExecutor, type Store } from '../../store/index.ts';
import {
  type CouponContext,
  couponContext,
  loadPeople,
  loadPerson,
  loadProducts,
  type PersonContext,
  type ProductContext,
  type RenderContext,
  requirePersonFound,
  UNSUBSCRIBE_URL_PLACEHOLDER,
} from './context.ts';
import { defaultRenderLimits, type RenderLimits, renderField } from './sandbox.ts';
import { type RenderedMessage, type TemplateDefinition, type TemplateField, templateFields } from './schema.ts';
import { getTemplate, requireTemplate, type StoredTemplate } from './templates-repo.ts';

/** The columns of an `outbox` row that rendering needs (as the table names them). */
export interface OutboxMessageLike {
  template: string | null;
  channel: string | null;
  user_key: number;
  /** `{trigger, …}`; for recommendations `{products: [ids]}`; may carry a coupon `{code, value, expires_at}`. */
  payload: unknown;
  journey_id?: number | null;
  node_id?: string | null;
  instance_id?: number | null;
  created_at?: number | null;
}

async function loadPartials(db: SqlExecutor, workspaceId: number): Promise<Map<string, string>> {
  const rows = await db.query<{ name: string; source: string }>('SELECT name, source FROM template_partials WHERE workspace_id = $1', [
    workspaceId,
  ]);
  return new Map(rows.map((r) => [r.name, r.source]));
}

/** A template's fields, worked out once per loaded template (the dispatcher renders each one for a whole batch). */
const fieldLists = new WeakMap<TemplateDefinition, TemplateField[]>();
function fieldsOf(template: TemplateDefinition): TemplateField[] {
  let list = fieldLists.get(template);
  if (!list) {
    list = templateFields(template);
    fieldLists.set(template, list);
  }
  return list;
}

/**
 * Renders every field of a template against a context. The fields of one message share one time
 * budget; the first field that fails stops the render with its path (`fields.html`).
 */
export async function renderTemplate(
  template: TemplateDefinition,
  context: RenderContext,
  partials: ReadonlyMap<string, string>,
  limits: RenderLimits = defaultRenderLimits,
): Promise<RenderedMessage> {
  const deadline = performance.now() + limits.renderMs;
  const fields: Record<string, unknown> = {};
  for (const field of fieldsOf(template)) {
    const out = renderField(field, context as unknown as Record<string, unknown>, partials, limits, deadline);
    let value: unknown = out;
    if (field.escape === 'json') {
      try {
        value = JSON.parse(out);
      } catch (err) {
        throw new AppError('invalid_request', `the body does not render to JSON: ${(err as Error).message}`, field.path);
      }
    }
    const [head, leaf] = field.key as [string, string?];
    if (leaf === undefined) {
      fields[head] = value;
    } else {
      const group = (fields[head] ?? {}) as Record<string, unknown>;
      group[leaf] = value;
      fields[head] = group;
    }
  }
  // The one field that is not Liquid: which WeChat API the message goes through.
  if (template.channel === 'wechat') fields.kind = template.fields.kind;
  return { template: template.name, channel: template.channel, fields };
}

function payloadOf(raw: unknown): Record<string, unknown> {
  const p = typeof raw === 'string' ? (JSON.parse(raw) as unknown) : raw;
  return p && typeof p === 'object' && !Array.isArray(p) ? (p as Record<string, unknown>) : {};
}

const objectOr = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

const productIdsOf = (payload: Record<string, unknown>): string[] => (Array.isArray(payload.products) ? payload.products.map(String) : []);

/** The Liquid source of every field of `templates` and of every partial: what a batch may render. */
export function liquidOf(templates: readonly TemplateDefinition[], partials: ReadonlyMap<string, string>): string[] {
  return [...templates.flatMap((t) => templateFields(t).map((f) => f.source)), ...partials.values()];
}

/** Where a batch's templates and partials come from: the store, or a cache in front of it (the dispatcher's). */
export interface TemplateSources {
  template(name: string): Promise<StoredTemplate | null>;
  partials(): Promise<ReadonlyMap<string, string>>;
}

export function storedTemplates(db: SqlExecutor, workspaceId: number): TemplateSources {
  return { template: (name) => getTemplate(db, workspaceId, name), partials: () => loadPartials(db, workspaceId) };
}

/** Renders any message of a batch with a template of the batch (see loadRenderBatch). */
export type BatchRender = (row: OutboxMessageLike, templateName: string, channel: string | null) => Promise<RenderedMessage>;

/**
 * Everything a batch of queued messages renders with, loaded together: the templates they may
 * use (their own and their fallbacks'), the workspace's partials, the people, the coupons their
 * journey instances issued and the recommended products. The dispatcher renders thousands of
 * messages a second this way; a single message is a batch of one.
 */
export async function loadRenderBatch(
  db: SqlExecutor,
  workspaceId: number,
  rows: readonly OutboxMessageLike[],
  templateNames: readonly string[],
  people: ReadonlyMap<number, PersonContext>,
  now: number,
  limits: RenderLimits = defaultRenderLimits,
  sources: TemplateSources = storedTemplates(db, workspaceId),
): Promise<BatchRender> {
  const names = [...new Set(templateNames)];
  const instances = [
    ...new Set(rows.flatMap((r) => (r.instance_id === undefined || r.instance_id === null ? [] : [Number(r.instance_id)]))),
  ];
  const [templates, partials] = await Promise.all([Promise.all(names.map((n) => sources.template(n))), sources.partials()]);
  const byName = new Map(templates.flatMap((t) => (t ? [[t.name, t] as const] : [])));
  const liquid = liquidOf([...byName.values()], partials);
  // The coupons instances issued are looked up only for templates that can show one (a query per batch).
  const showsCoupon = liquid.some((source) => source.includes('coupon'));
  const [products, coupons] = await Promise.all([
    loadProducts(db, workspaceId, [...new Set(rows.flatMap((r) => productIdsOf(payloadOf(r.payload))))]),
    showsCoupon ? issuedCoupons(db, workspaceId, instances) : new Map<number, { at: number; coupon: CouponContext }[]>(),
  ]);
  // Coupon states now ("your coupon expires tomorrow" only while it is unused), in one query for the batch.
  const codes = [
    ...rows.flatMap((r) => {
      const code = payloadOf(r.payload).code;
      return typeof code === 'string' ? [code] : [];
    }),
    ...[...coupons.values()].flatMap((list) => list.map((c) => c.coupon.code)),
  ];
  const states = await couponStatesOf(db, workspaceId, [...new Set(codes)], now);
  const productById = new Map(products.map((p) => [p.id, p]));
  const recommended = await batchRecommendations(db, workspaceId, rows, liquid, now);
  const nowIso = new Date(now).toISOString();
  return async (row, templateName, channel) => {
    const template = byName.get(templateName);
    if (!template) throw new AppError('not_found', `no template named "${templateName}"`, 'template');
    if (channel && channel !== 'sandbox' && channel !== template.channel) {
      throw new AppError(
        'invalid_request',
        `template "${template.name}" is for ${template.channel}, the message is for ${channel}`,
        'channel',
      );
    }
    const payload = payloadOf(row.payload);
    const found: CouponContext | null =
      payload.code !== undefined && payload.code !== null
        ? couponContext(payload as { code: unknown })
        : latestOf(coupons.get(Number(row.instance_id)) ?? [], row.created_at ?? null);
    const coupon = found ? { ...found, state: states.get(found.code) ?? found.state } : null;
    const context: RenderContext = {
      person: requirePersonFound(people.get(Number(row.user_key)) ?? null, Number(row.user_key), 'user_key'),
      event: objectOr(payload.trigger),
      coupon,
      products: productIdsOf(payload).flatMap((id) => productById.get(id) ?? []),
      ...(recommended.size > 0 ? { recommendations: recommended.get(row) ?? {} } : {}),
      journey: row.journey_id !== undefined && row.journey_id !== null ? { id: Number(row.journey_id), node: row.node_id ?? '' } : null,
      unsubscribe_url: UNSUBSCRIBE_URL_PLACEHOLDER,
      now: nowIso,
    };
    return renderTemplate(template, context, partials, limits);
  };
}

/**
 * The `recommendations` lists the batch's templates and partials name, per message, as the person
 * is now (the trigger's products anchor `related`). One statement per list for the whole batch;
 * nothing when no template names one.
 */
async function batchRecommendations(
  db: SqlExecutor,
  workspaceId: number,
  rows: readonly OutboxMessageLike[],
  liquid: readonly string[],
  now: number,
): Promise<Map<OutboxMessageLike, Record<string, ProductContext[]>>> {
  const out = new Map<OutboxMessageLike, Record<string, ProductContext[]>>();
  const keys = referencedRecommendations(liquid);
  if (keys.length === 0 || rows.length === 0) return out;
  // One list per person and trigger, however many of their messages the batch holds.
  const pkOf = new Map<string, number>();
  const people: PersonAt[] = [];
  const rowPk = rows.map((r) => {
    const triggerProducts = triggerProductsOf(payloadOf(r.payload).trigger);
    const key = `${Number(r.user_key)}|${triggerProducts.join('|')}`;
    let pk = pkOf.get(key);
    if (pk === undefined) {
      pk = pkOf.size;
      pkOf.set(key, pk);
      people.push({ pk, userKey: Number(r.user_key), asOf: now, triggerProducts });
    }
    return pk;
  });
  const lists = await templateRecommendations(db, workspaceId, now, keys, people);
  const ids = [...new Set([...lists.values()].flatMap((entry) => Object.values(entry).flat()))];
  const productById = new Map((await loadProducts(db, workspaceId, ids)).map((p) => [p.id, p]));
  rows.forEach((r, i) => {
    const entry = lists.get(rowPk[i]!) ?? {};
    out.set(r, Object.fromEntries(keys.map((k) => [k, (entry[k] ?? []).flatMap((id) => productById.get(id) ?? [])])));
  });
  return out;
}

/** The coupon a message goes with: the latest one its instance issued before it (a coupon node writes its own outbox row). */
function latestOf(issued: readonly { at: number; coupon: CouponContext }[], before: number | null): CouponContext | null {
  let best: { at: number; coupon: CouponContext } | null = null;
  for (const c of issued) if ((before === null || c.at <= before) && (!best || c.at >= best.at)) best = c;
  return best?.coupon ?? null;
}

async function issuedCoupons(
  db: SqlExecutor,
  workspaceId: number,
  instanceIds: readonly number[],
): Promise<Map<number, { at: number; coupon: CouponContext }[]>> {
  const out = new Map<number, { at: number; coupon: CouponContext }[]>();
  if (instanceIds.length === 0) return out;
  const rows = await db.query<{ instance_id: number; payload: unknown; created_at: number }>(
    `SELECT instance_id, payload, created_at FROM outbox WHERE workspace_id = $1 AND action = 'coupon'
       AND instance_id IN ${keysIn(2)} ORDER BY created_at, message_key`,
    [workspaceId, keysParam(instanceIds)],
  );
  for (const r of rows) {
    const payload = payloadOf(r.payload);
    if (payload.code === undefined || payload.code === null) continue;
    const list = out.get(Number(r.instance_id)) ?? [];
    list.push({ at: Number(r.created_at), coupon: couponContext(payload as { code: unknown }) });
    out.set(Number(r.instance_id), list);
  }
  return out;
}

/**
 * Renders one queued message: its template and the workspace's partials, the person (identities,
 * traits, computed traits, predictions), the trigger, the coupon and the recommended products. A
 * journey may send any template to the `sandbox` channel; otherwise the template must be written
 * for the message's channel.
 */
export async function renderMessage(
  store: Store,
  workspaceId: number,
  row: OutboxMessageLike,
  now: number,
  limits: RenderLimits = defaultRenderLimits,
): Promise<RenderedMessage> {
  if (!row.template) throw new AppError('invalid_request', 'the message names no template', 'template');
  const people = await loadPeople(store, workspaceId, [Number(row.user_key)]);
  const render = await loadRenderBatch(store, workspaceId, [row], [row.template], people, now, limits);
  return render(row, row.template, row.channel);
}

export interface PreviewInput {
  template: string;
  userKey: number;
  event?: Record<string, unknown> | undefined;
  coupon?:
    | { code: string; campaign?: string | undefined; value?: number | undefined; expires_at?: string | number | undefined }
    | undefined;
  /** Product ids, resolved from the catalog. */
  products?: readonly string[] | undefined;
}

/** Renders a stored template for a real person with a made-up trigger, coupon and products (preview). Returns the context too. */
export async function renderForPerson(
  store: Store,
  workspaceId: number,
  input: PreviewInput,
  now: number,
  limits: RenderLimits = defaultRenderLimits,
): Promise<{ rendered: RenderedMessage; context: RenderContext }> {
  const [template, partials, person, products] = await Promise.all([
    requireTemplate(store, workspaceId, input.template),
    loadPartials(store, workspaceId),
    loadPerson(store, workspaceId, input.userKey),
    loadProducts(store, workspaceId, input.products ?? []),
  ]);
  const row: OutboxMessageLike = {
    template: template.name,
    channel: template.channel,
    user_key: input.userKey,
    payload: { trigger: input.event ?? {} },
  };
  const recommended = await batchRecommendations(store, workspaceId, [row], liquidOf([template], partials), now);
  const context: RenderContext = {
    person: requirePersonFound(person, input.userKey, 'userId'),
    event: input.event ?? {},
    coupon: input.coupon ? couponContext(input.coupon) : null,
    products,
    ...(recommended.size > 0 ? { recommendations: recommended.get(row) ?? {} } : {}),
    journey: null,
    unsubscribe_url: UNSUBSCRIBE_URL_PLACEHOLDER,
    now: new Date(now).toISOString(),
  };
  return { rendered: await renderTemplate(template, context, partials, limits), context };
}
