/** A coupon a journey issued (an outbox row with action `coupon`). */
export interface IssuedCoupon {
  code: string;
  value: number;
  journeyId: number;
  instanceId: number;
  person: number;
  issuedAt: number;
  expiresAt: number;
  /** How it was used, once it was. */
  usedBy: 'response' | 'organic' | null;
  /** The discount it gave (at most the order subtotal). */
  discount: number;
}

/**
 * The coupons journeys issued, per journey instance (a message of the instance carries its
 * coupon) and per person (an order the person would have placed anyway may use it too).
 */
export class CouponWallet {
  private readonly byInstance = new Map<string, IssuedCoupon[]>();
  private readonly byPerson = new Map<number, IssuedCoupon[]>();

  issue(c: IssuedCoupon): void {
    const key = `${c.journeyId}:${c.instanceId}`;
    this.byInstance.set(key, [...(this.byInstance.get(key) ?? []), c]);
    this.byPerson.set(c.person, [...(this.byPerson.get(c.person) ?? []), c]);
  }

  /** The most valuable unused, unexpired coupon of a journey instance at `at`. */
  ofInstance(journeyId: number, instanceId: number, at: number): IssuedCoupon | null {
    return best(this.byInstance.get(`${journeyId}:${instanceId}`), at);
  }

  /** The most valuable unused, unexpired coupon a person holds at `at` (any journey). */
  ofPerson(person: number, at: number): IssuedCoupon | null {
    return best(this.byPerson.get(person), at);
  }

  all(): IssuedCoupon[] {
    return [...this.byInstance.values()].flat();
  }
}

function best(list: IssuedCoupon[] | undefined, at: number): IssuedCoupon | null {
  let found: IssuedCoupon | null = null;
  for (const c of list ?? []) {
    if (c.usedBy !== null || c.issuedAt > at || c.expiresAt <= at) continue;
    if (!found || c.value > found.value) found = c;
  }
  return found;
}
