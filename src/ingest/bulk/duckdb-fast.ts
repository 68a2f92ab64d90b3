import type { SqlExecutor } from '../../store/index.ts';
import {
  absent,
  ascii,
  idValue,
  isArr,
  isIdString,
  isInt32,
  isIso,
  isNum,
  isObj,
  isoMs,
  isPosInt32,
  isSafeInt,
  isStr,
  lit,
  missing,
  numOf,
  repeatsKey,
  strOf,
  strSafe,
  strWithin,
  untrimmable,
} from './duckdb-json.ts';
import { withCommerceFields } from './duckdb-parse.ts';

/**
 * The set-at-a-time twin of `normalizeEvent` for the common shapes of events: imp_fast holds,
 * for every parsed line, the normalised fields and `ok`, which is true only when the line is
 * certainly valid and every field equals what normalizeEvent would produce. Lines with
 * ok = false are not judged here; they go to normalizeEvent, which reports their errors.
 * Column names are those of duckdb-parse.ts: `f` / `t_f` top level, `p_…` commerce properties (`p_has`),
 * `l_…` order lines, `r_…` traits.
 */

const productEvents = ['Product Viewed', 'Product Added', 'Product Added to Wishlist'];
const orderEvents = ['Checkout Started', 'Order Placed', 'Order Completed', 'Order Cancelled', 'Order Refunded', 'Order Shipped'];
const totalRequired = ['Order Placed', 'Order Completed'];
/** Commerce events rare enough in bulk files to leave to JS. */
const jsOnlyEvents = ['Coupon Applied', 'Signed Up', 'Member Joined'];
const inList = (xs: readonly string[]) => `(${xs.map(lit).join(', ')})`;
const optional = (f: string, cond: string) => `(${absent(f)} OR ${cond})`;
const objectOrAbsent = (f: string) => `(${absent(f)} OR ${isObj(f)})`;
/** userId / anonymousId: nullable; claims are trimmed, so only untrimmable strings are taken here. */
const personIdOk = (f: string) => `(${missing(f)} OR (${strWithin(f, 1, 512)} AND ${untrimmable(f)}) OR ${isSafeInt(f)})`;

/** A line item of an order (productLineSchema, optional = absent, not null). */
const lineOkCommerce = `("t_l" = 'OBJECT' AND NOT l_dup AND ${isIdString('l_product_id')} AND ${optional('l_category', strWithin('l_category', 0, 500))}
  AND ${optional('l_price', `${isNum('l_price')} AND ${numOf('l_price')} >= 0`)} AND ${optional('l_quantity', isPosInt32('l_quantity'))}
  AND ${optional('l_name', isStr('l_name'))} AND ${optional('l_sku', isStr('l_sku'))})`;
/** What itemsOf() makes of a line of any other event, when that is exact here. */
const lineOkOther = `("t_l" = 'OBJECT' AND NOT l_dup AND (${isStr('l_product_id')} OR ${isSafeInt('l_product_id')}) AND ${strSafe('l_category')}
  AND (NOT ${isNum('l_quantity')} OR ${isInt32('l_quantity')}))`;

const productOk = `(${absent('p_products')} AND ${isIdString('p_product_id')} AND ${optional('p_category', strWithin('p_category', 0, 500))}
  AND ${optional('p_price', `${isNum('p_price')} AND ${numOf('p_price')} >= 0`)} AND ${optional('p_quantity', isPosInt32('p_quantity'))}
  AND ${optional('p_name', isStr('p_name'))})`;
const orderOk = `(${isIdString('p_order_id')} AND (${absent('p_total')} AND ev NOT IN ${inList(totalRequired)} OR ${isNum('p_total')})
  AND ${optional('p_currency', `${strWithin('p_currency', 3, 3)} AND ${ascii('p_currency')}`)}
  AND ${optional('p_discount', isNum('p_discount'))} AND ${optional('p_coupon', isStr('p_coupon'))}
  AND ${optional('p_products', `${isArr('p_products')} AND coalesce(lines_ok_c, true)`)})`;
/** What every track event with commerce keys must satisfy for the values below to be exact. */
const commerceValuesOk = `(NOT p_dup AND ${strSafe('p_order_id')} AND ${strSafe('p_currency')} AND ${strSafe('p_product_id')} AND ${strSafe('p_category')}
  AND (NOT ${isStr('p_currency')} OR ${ascii('p_currency')}) AND (NOT ${isNum('p_quantity')} OR ${isInt32('p_quantity')})
  AND (NOT ${isArr('p_products')} OR coalesce(lines_ok_n, true)))`;
const trackOk = `(${strWithin('event', 1, 200)} AND ${objectOrAbsent('properties')} AND (
  CASE WHEN NOT p_has THEN ev NOT IN ${inList([...productEvents, ...orderEvents, ...jsOnlyEvents])}
       ELSE ${commerceValuesOk} AND CASE WHEN ev IN ${inList(productEvents)} THEN ${productOk}
                                         WHEN ev IN ${inList(orderEvents)} THEN ${orderOk}
                                         ELSE ev NOT IN ${inList(jsOnlyEvents)} END END))`;

const emailOk = `("r_email" = '' OR (regexp_full_match("r_email", '[!-~]+') AND regexp_full_match(lower("r_email"), '[^\\s@]+@[^\\s@]+\\.[^\\s@]+')))`;
const idTraitOk = (f: string) => `(${missing(f)} OR (${isStr(f)} AND ("${f}" = '' OR ${untrimmable(f)})))`;
/** Identify traits: e-mail, country, time zone and the plain id traits are checked here. */
const identifyOk = `(${objectOrAbsent('traits')} AND (r_n IS NULL OR (NOT needs_js
  AND (${missing('r_email')} OR (${isStr('r_email')} AND ${emailOk}))
  AND ${idTraitOk('r_wechat_openid')} AND ${idTraitOk('r_wechat_unionid')} AND ${idTraitOk('r_member_no')}
  AND ${optional('r_country', `${isStr('r_country')} AND regexp_full_match("r_country", '[A-Za-z]{2}')`)}
  AND ${optional('r_timezone', `${isStr('r_timezone')} AND list_contains($2::VARCHAR[], "r_timezone")`)})))`;
const nameOk = `(${missing('name')} OR ${strWithin('name', 0, 200)})`;
const pageOk = `(${nameOk} AND (${missing('category')} OR ${strWithin('category', 0, 200)}) AND ${objectOrAbsent('properties')})`;
const groupOk = `(${objectOrAbsent('traits')} AND ${isIdString('groupId')})`;

const lineOk = `(type IN ('track', 'identify', 'page', 'screen', 'group') AND "t_type" = 'VARCHAR'
  AND (${absent('messageId')} OR ${strWithin('messageId', 1, 512)})
  AND ${personIdOk('userId')} AND ${personIdOk('anonymousId')} AND NOT (${missing('userId')} AND ${missing('anonymousId')})
  AND (${absent('timestamp')} OR ${isIso('timestamp')}) AND (${absent('originalTimestamp')} OR ${isIso('originalTimestamp')})
  AND (${absent('sentAt')} OR ${isIso('sentAt')}) AND ${objectOrAbsent('context')} AND ${objectOrAbsent('integrations')}
  AND NOT coalesce(dev_dup, false) AND (dev IS NULL OR NOT starts_with(dev, '-') AND NOT (ascii(dev) BETWEEN 48 AND 57) OR regexp_full_match(dev, '-?(0|[1-9][0-9]{0,14})'))
  AND CASE type WHEN 'track' THEN ${trackOk} WHEN 'identify' THEN ${identifyOk} WHEN 'page' THEN ${pageOk}
                WHEN 'screen' THEN ${nameOk} AND ${objectOrAbsent('properties')} ELSE ${groupOk} END)`;

/**
 * Normalised traits: e-mail lower-cased and country upper-cased, as normalizeEvent rewrites them
 * (a merge patch, only with keys that are strings: a null in a patch would delete the trait).
 */
const patch = (key: string, f: string, value: string) => `CASE WHEN ${isStr(f)} THEN json_object('${key}', ${value}) ELSE '{}'::JSON END`;
const traitsValue = `CASE WHEN type <> 'identify' THEN NULL WHEN r_n IS NULL THEN coalesce(traits, '{}'::JSON) ELSE
  json_merge_patch(json_merge_patch(coalesce(traits, '{}'::JSON), ${patch('email', 'r_email', 'lower("r_email")')}),
                   ${patch('country', 'r_country', 'upper("r_country")')}) END`;
const clientTs = `coalesce("timestamp", "originalTimestamp")`;
const sentMs = `CASE WHEN "sentAt" IS NOT NULL THEN ${isoMs('"sentAt"')} END`;
/** context.device.id as str() reads it (JSON text: a string, number, or anything else). */
const deviceId = `CASE WHEN starts_with(dev, '"') THEN nullif(dev ->> '$', '') WHEN regexp_full_match(dev, '-?(0|[1-9][0-9]{0,14})') THEN CAST(dev AS VARCHAR) END`;

/**
 * imp_fast: every parsed line with its normalised fields and the `ok` verdict. The large JSON
 * fields stay in imp_p (copying strings is a large part of the cost); stageFast takes them from there.
 */
export async function buildFast(tx: SqlExecutor, now: number, timeZones: readonly string[]): Promise<void> {
  await tx.query(
    `CREATE TEMP TABLE imp_fast AS
     SELECT n, ${lineOk} AS ok, "messageId" AS message_id, type,
       CASE type WHEN 'track' THEN ev WHEN 'page' THEN "name" WHEN 'screen' THEN "name" END AS event,
       CASE WHEN ${clientTs} IS NULL THEN $1 ELSE ${isoMs(clientTs)} + coalesce($1 - ${sentMs}, 0) END AS ts,
       ${sentMs} AS sent_at, ${idValue('userId')} AS user_id, ${idValue('anonymousId')} AS anonymous_id,
       ${strOf('p_order_id')} AS order_id, ${numOf('p_total')} AS total, upper(${strOf('p_currency')}) AS currency,
       CASE WHEN type = 'group' THEN json_object('groupId', ${idValue('groupId')}, 'traits', coalesce(traits, '{}'::JSON)) :: JSON END AS group_properties,
       ${traitsValue} AS traits,
       nullif(CASE WHEN ${isStr('r_email')} THEN lower("r_email") END, '') AS c_email,
       nullif("r_wechat_openid", '') AS c_wechat_openid, nullif("r_wechat_unionid", '') AS c_wechat_unionid,
       nullif("r_member_no", '') AS c_member_no, ${deviceId} AS c_device_id,
       ${isArr('p_products')} AS item_array,
       CASE WHEN type = 'track' AND NOT coalesce(${isArr('p_products')}, false) THEN ${strOf('p_product_id')} END AS i_product_id,
       ${strOf('p_category')} AS i_category, ${numOf('p_price')} AS i_price,
       CASE WHEN ${isNum('p_quantity')} THEN TRY_CAST("p_quantity" AS INTEGER) ELSE 1 END AS i_quantity
     FROM (
       SELECT p.* EXCLUDE (properties, context, integrations), "event" AS ev,
              tr.n AS r_n, coalesce(tr.needs_js, false) AS needs_js, tr.* EXCLUDE (n, needs_js), pl.lines_ok_c, pl.lines_ok_n,
              CASE WHEN contains(p.context, '"device"') THEN json_extract(p.context, '$.device.id') END AS dev,
              contains(p.context, '"device"') AND (${repeatsKey('json_keys(p.context)')} OR ${repeatsKey(`json_keys(p.context, '$.device')`)}) AS dev_dup
       FROM ${withCommerceFields} p
       LEFT JOIN (SELECT n, bool_and(${lineOkCommerce}) AS lines_ok_c, bool_and(${lineOkOther}) AS lines_ok_n FROM imp_pi GROUP BY n) pl ON pl.n = p.n
       LEFT JOIN imp_tr tr ON tr.n = p.n)`,
    [now, timeZones],
  );
}

const claimSources = [
  ['user_id', 'user_id'],
  ['anonymous_id', 'anonymous_id'],
  ['email', 'c_email'],
  ['wechat_openid', 'c_wechat_openid'],
  ['wechat_unionid', 'c_wechat_unionid'],
  ['member_no', 'c_member_no'],
  ['device_id', 'c_device_id'],
] as const;

/** Copies the ok lines into the staging tables: events, claims in normalizeEvent's order, items. */
export async function stageFast(tx: SqlExecutor): Promise<number> {
  await tx.query(
    `INSERT INTO imp_ev
     SELECT f.n, f.message_id, f.type, f.event, f.ts, f.sent_at, f.user_id, f.anonymous_id, f.order_id, f.total, f.currency,
            CASE WHEN f.type IN ('track', 'page', 'screen') THEN coalesce(p.properties, '{}'::JSON) ELSE f.group_properties END,
            p.context, p.integrations, f.traits
     FROM imp_fast f JOIN imp_p p ON p.n = f.n WHERE f.ok`,
  );
  const selects = claimSources.map(([type, col], i) => {
    const before = claimSources.slice(0, i).map(([, c]) => `CAST(${c} IS NOT NULL AS INTEGER)`);
    return `SELECT n, ${before.length ? before.join(' + ') : '0'} AS ord, '${type}' AS type, ${col} AS value FROM imp_fast WHERE ok AND ${col} IS NOT NULL`;
  });
  await tx.query(`INSERT INTO imp_claim ${selects.join(' UNION ALL ')}`);
  await tx.query(
    `INSERT INTO imp_item
     SELECT n, 0, i_product_id, i_category, i_price, i_quantity FROM imp_fast WHERE ok AND i_product_id IS NOT NULL
     UNION ALL
     SELECT i.n, i.ord, ${idValue('l_product_id')}, ${strOf('l_category')}, ${numOf('l_price')},
            CASE WHEN ${isNum('l_quantity')} THEN TRY_CAST("l_quantity" AS INTEGER) ELSE 1 END
     FROM imp_pi i JOIN imp_fast f ON f.n = i.n WHERE f.ok AND f.type = 'track' AND f.item_array`,
  );
  const [row] = await tx.query<{ n: number }>('SELECT count(*) AS n FROM imp_fast WHERE ok');
  return Number(row?.n ?? 0);
}
