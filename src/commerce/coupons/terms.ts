import { durationMs } from '../../segments/index.ts';
import type { CouponCampaign } from './campaigns-repo.ts';
import type { CouponScope, NotIssuedReason } from './schema.ts';

/** What codes issued now from a campaign are worth and how long they last (frozen onto each code). */
export interface IssueTerms {
  kind: 'amount' | 'percent';
  /** The face value when no tier says otherwise. */
  value: number;
  maxDiscount: number | null;
  minSpend: number;
  validFrom: number;
  expiresAt: number;
  /** Why nobody can get a code now (paused, ended), or null. */
  closed: NotIssuedReason | null;
}

/** Overrides a journey node may give: its own value, and its own validity ("7d" from issue). */
export interface NodeOverrides {
  value?: number | undefined;
  validFor?: string | undefined;
}

export function issueTerms(campaign: CouponCampaign, now: number, node: NodeOverrides = {}): IssueTerms {
  const d = campaign.definition;
  const v = d.validity;
  const fixed = v.kind === 'dates' ? { from: Date.parse(v.from), until: Date.parse(v.until) } : null;
  const lasts = node.validFor ?? (v.kind === 'after_issue' ? v.duration : null);
  const validFrom = fixed ? Math.max(now, fixed.from) : now;
  // A node's own validity still ends with the campaign's dates.
  const relative = lasts === null ? Number.POSITIVE_INFINITY : now + durationMs(lasts);
  const expiresAt = Math.min(relative, fixed?.until ?? Number.POSITIVE_INFINITY);
  let closed: NotIssuedReason | null = null;
  if (campaign.status !== 'active') closed = 'campaign_paused';
  else if (fixed && now >= fixed.until) closed = 'campaign_ended';
  return {
    kind: d.discount.kind,
    value: node.value ?? d.discount.value,
    maxDiscount: d.discount.kind === 'percent' ? (d.discount.maxDiscount ?? null) : null,
    minSpend: d.minSpend,
    validFrom,
    expiresAt,
    closed,
  };
}

/** What one code costs against a value budget: its face value, or a percent coupon's cap. */
export function costSql(terms: IssueTerms, value: string): string {
  return terms.kind === 'amount' ? value : String(terms.maxDiscount ?? 0);
}

export interface BasketLine {
  product_id: string;
  category?: string | undefined;
  price: number;
  quantity: number;
}

/** Whether a product (by id and category path "A > B > C") is in a campaign's scope. */
export function inScope(scope: CouponScope, productId: string, categoryPath: string | null): boolean {
  switch (scope.kind) {
    case 'shop':
      return true;
    case 'products':
      return scope.products.includes(productId);
    case 'categories': {
      if (!categoryPath) return false;
      const levels = categoryPath.split('>').map((p) => p.trim().toLowerCase());
      const path = levels.join(' > ');
      return scope.categories.some((c) => {
        const want = c
          .split('>')
          .map((p) => p.trim().toLowerCase())
          .join(' > ');
        // A path matches itself and everything under it; a bare name matches that category at any level.
        return path === want || path.startsWith(`${want} > `) || (!want.includes('>') && levels.includes(want));
      });
    }
    default: {
      const never: never = scope;
      throw new Error(`unknown scope ${JSON.stringify(never)}`);
    }
  }
}

/** The discount a code gives on an eligible amount: a fixed amount (never more than the amount) or a capped percentage. */
export function discountOn(code: { kind: string; value: number; max_discount: number | null }, eligible: number): number {
  const raw = code.kind === 'percent' ? (eligible * code.value) / 100 : code.value;
  const capped = Math.min(raw, eligible, code.max_discount ?? Number.POSITIVE_INFINITY);
  return Math.round(capped * 100) / 100;
}
