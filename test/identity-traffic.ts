/** Minute `min` of a fixed morning, ISO: the timestamps of the import tests' events. */
export const at = (min: number) => new Date(Date.UTC(2026, 9, 1, 8, min)).toISOString();

export interface TrafficPools {
  seed: number;
  /** Prefix of the message ids (`${idPrefix}-${i}`). */
  idPrefix: string;
  users: number;
  anonymous: number;
  devices: number;
  emails: number;
  /** Some identify calls also carry a `member_no` trait. */
  memberNos: boolean;
}

/** Valid traffic over small pools of ids, so people meet: sign-ups, shared devices and e-mails. Deterministic per seed. */
export function randomIdentityTraffic(n: number, p: TrafficPools): Record<string, unknown>[] {
  let x = p.seed;
  const rnd = (m: number) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) % m;
  };
  return Array.from({ length: n }, (_, i) => {
    const e: Record<string, unknown> = { messageId: `${p.idPrefix}-${i}`, timestamp: at(i) };
    const r = rnd(100);
    if (rnd(2)) e.userId = `ru${rnd(p.users)}`;
    if (!e.userId || rnd(3) === 0) e.anonymousId = `ra${rnd(p.anonymous)}`;
    if (rnd(10) === 0) e.context = { device: { id: `rd${rnd(p.devices)}` } };
    if (r < 55) Object.assign(e, { type: 'track', event: 'Product Viewed', properties: { product_id: `p${rnd(9)}` } });
    else if (r < 85) {
      const traits: Record<string, unknown> = { plan: ['gold', 'silver', null][rnd(3)], visits: rnd(50) };
      if (rnd(2)) traits.email = `re${rnd(p.emails)}@shop.cn`;
      if (p.memberNos && rnd(8) === 0) traits.member_no = `M${rnd(60)}`;
      Object.assign(e, { type: 'identify', traits });
    } else if (r < 98) Object.assign(e, { type: 'page', name: 'Home' });
    else
      Object.assign(e, {
        type: 'alias',
        userId: `ru${rnd(p.users)}`,
        previousId: rnd(2) ? `ra${rnd(p.anonymous)}` : `ru${rnd(p.users)}`,
      });
    return e;
  });
}
