/**
 * The journeys of the five brief scenarios, shared by their behaviour tests (journey-*.test.ts)
 * and the delivery test (journey-delivery.test.ts), which sends the same journeys through real
 * providers with per-channel templates (`withSends`).
 */

/** Scenario 2: unpaid order, keyed by order_id — tiered coupon, reminder if unused, exit when that order is paid. */
export const unpaidOrder = {
  nodes: [
    { id: 'placed', type: 'entry', trigger: { kind: 'event', event: 'Order Placed', key: 'order_id' } },
    {
      id: 'coupon',
      type: 'coupon',
      campaign: 'pay-now',
      tiers: [
        { minTotal: 0, value: 5 },
        { minTotal: 100, value: 15 },
        { minTotal: 300, value: 40 },
      ],
    },
    { id: 'notice', type: 'send', channel: 'sms', template: 'coupon-arrived' },
    { id: 'wait', type: 'wait', wait: { kind: 'duration', duration: '4h' } },
    { id: 'used', type: 'condition', cases: [{ branch: 'yes', when: { kind: 'coupon_used', node: 'coupon' } }], otherwise: 'no' },
    { id: 'reminder', type: 'send', channel: 'push', template: 'coupon-reminder' },
    { id: 'done', type: 'exit' },
  ],
  edges: [
    { from: 'placed', to: 'coupon' },
    { from: 'coupon', to: 'notice' },
    { from: 'notice', to: 'wait' },
    { from: 'wait', to: 'used' },
    { from: 'used', branch: 'no', to: 'reminder' },
    { from: 'used', branch: 'yes', to: 'done' },
  ],
  settings: { goal: { event: 'Order Completed', sameKey: true } },
};

/**
 * Scenario 1: new member first order. Coupon at sign-up; reminders on day 1, 3 and 15 while the
 * coupon is unused; on day 30 a fourth reminder — unless all three went unanswered (no click),
 * in which case product recommendations instead. A first order ends the journey.
 */
const unused = (id: string) => ({
  id,
  type: 'condition',
  cases: [{ branch: 'used', when: { kind: 'coupon_used', node: 'welcome' } }],
  otherwise: 'unused',
});
export const firstOrder = {
  nodes: [
    { id: 'signup', type: 'entry', trigger: { kind: 'event', event: 'Signed Up' } },
    { id: 'welcome', type: 'coupon', campaign: 'welcome', value: 10, validFor: '30d' },
    { id: 'welcome-msg', type: 'send', channel: 'push', template: 'welcome-coupon' },
    { id: 'd1', type: 'wait', wait: { kind: 'duration', duration: '1d' } },
    unused('u1'),
    { id: 'r1', type: 'send', channel: 'push', template: 'coupon-reminder' },
    { id: 'd3', type: 'wait', wait: { kind: 'duration', duration: '2d' } },
    unused('u3'),
    { id: 'r3', type: 'send', channel: 'sms', template: 'coupon-reminder-sms' },
    { id: 'd15', type: 'wait', wait: { kind: 'duration', duration: '12d' } },
    unused('u15'),
    { id: 'r15', type: 'send', channel: 'sms', template: 'coupon-reminder-sms' },
    { id: 'd30', type: 'wait', wait: { kind: 'duration', duration: '15d' } },
    {
      id: 'answered',
      type: 'condition',
      cases: [{ branch: 'clicked', when: { kind: 'message_clicked' } }],
      otherwise: 'silent',
    },
    { id: 'r30', type: 'send', channel: 'sms', template: 'coupon-last-call' },
    { id: 'picks', type: 'recommend', strategy: 'bestsellers', count: 3, channel: 'push', template: 'picks-for-you' },
    { id: 'stop', type: 'exit' },
  ],
  edges: [
    { from: 'signup', to: 'welcome' },
    { from: 'welcome', to: 'welcome-msg' },
    { from: 'welcome-msg', to: 'd1' },
    { from: 'd1', to: 'u1' },
    { from: 'u1', branch: 'unused', to: 'r1' },
    { from: 'u1', branch: 'used', to: 'stop' },
    { from: 'r1', to: 'd3' },
    { from: 'd3', to: 'u3' },
    { from: 'u3', branch: 'unused', to: 'r3' },
    { from: 'u3', branch: 'used', to: 'stop' },
    { from: 'r3', to: 'd15' },
    { from: 'd15', to: 'u15' },
    { from: 'u15', branch: 'unused', to: 'r15' },
    { from: 'u15', branch: 'used', to: 'stop' },
    { from: 'r15', to: 'd30' },
    { from: 'd30', to: 'answered' },
    { from: 'answered', branch: 'clicked', to: 'r30' },
    { from: 'answered', branch: 'silent', to: 'picks' },
  ],
  settings: { goal: { event: 'Order Completed' }, reentry: { mode: 'once' } },
};

/**
 * Scenario 3: interest group — people who added to cart or wishlist 3–10 days ago and have not
 * ordered in the last 10 days get a coupon, then reminders at 6 hours, day 1 and day 3; an order
 * ends the journey. The audience is a realtime segment; the journey enrols whoever enters it.
 */
export const interestGroup = {
  type: 'and',
  conditions: [
    { type: 'performed', event: ['Product Added', 'Product Added to Wishlist'], window: { from: '10d', to: '3d' } },
    { type: 'not_performed', event: 'Order Completed', window: { last: '10d' } },
  ],
};

export const interestJourney = (segmentId: number) => ({
  nodes: [
    { id: 'enter', type: 'entry', trigger: { kind: 'segment', segmentId } },
    { id: 'coupon', type: 'coupon', campaign: 'come-back', value: 8 },
    { id: 'sms', type: 'send', channel: 'sms', template: 'interest-coupon' },
    { id: 'w6h', type: 'wait', wait: { kind: 'duration', duration: '6h' } },
    { id: 'r6h', type: 'send', channel: 'push', template: 'reminder' },
    { id: 'w1d', type: 'wait', wait: { kind: 'duration', duration: '18h' } },
    { id: 'r1d', type: 'send', channel: 'push', template: 'reminder' },
    { id: 'w3d', type: 'wait', wait: { kind: 'duration', duration: '2d' } },
    { id: 'r3d', type: 'send', channel: 'sms', template: 'last-reminder' },
  ],
  edges: [
    { from: 'enter', to: 'coupon' },
    { from: 'coupon', to: 'sms' },
    { from: 'sms', to: 'w6h' },
    { from: 'w6h', to: 'r6h' },
    { from: 'r6h', to: 'w1d' },
    { from: 'w1d', to: 'r1d' },
    { from: 'r1d', to: 'w3d' },
    { from: 'w3d', to: 'r3d' },
  ],
  settings: { goal: { event: 'Order Completed' } },
});

/**
 * Scenario 5: dormant high-value recall with a 10 % holdout and a 7-day cadence (day 0, 7, 14,
 * 28). The holdout is enrolled and tracked but sent nothing; both groups can convert, which is
 * what lift is measured on.
 */
export const recall = (segmentId: number) => ({
  nodes: [
    { id: 'enter', type: 'entry', trigger: { kind: 'segment', segmentId } },
    { id: 'd0', type: 'send', channel: 'email', template: 'we-miss-you' },
    { id: 'w7', type: 'wait', wait: { kind: 'duration', duration: '7d' } },
    { id: 'd7', type: 'send', channel: 'email', template: 'we-miss-you-2' },
    { id: 'w14', type: 'wait', wait: { kind: 'duration', duration: '7d' } },
    { id: 'd14', type: 'coupon', campaign: 'recall', value: 20 },
    { id: 'd14-msg', type: 'send', channel: 'sms', template: 'recall-coupon' },
    { id: 'w28', type: 'wait', wait: { kind: 'duration', duration: '14d' } },
    { id: 'd28', type: 'send', channel: 'email', template: 'last-chance' },
  ],
  edges: [
    { from: 'enter', to: 'd0' },
    { from: 'd0', to: 'w7' },
    { from: 'w7', to: 'd7' },
    { from: 'd7', to: 'w14' },
    { from: 'w14', to: 'd14' },
    { from: 'd14', to: 'd14-msg' },
    { from: 'd14-msg', to: 'w28' },
    { from: 'w28', to: 'd28' },
  ],
  settings: { goal: { event: 'Order Completed' }, holdoutPercent: 10, reentry: { mode: 'once' } },
});

/**
 * Scenario 4: post-purchase cross-sell. After an order, recommend products of the same category
 * (a phone → earphones, a watch); if within 15 days a recommended product was viewed but not
 * bought, issue a category coupon.
 */
export const crossSell = {
  nodes: [
    { id: 'ordered', type: 'entry', trigger: { kind: 'event', event: 'Order Completed' } },
    { id: 'picks', type: 'recommend', strategy: 'same_category', count: 2, channel: 'push', template: 'goes-well-with' },
    { id: 'w15', type: 'wait', wait: { kind: 'duration', duration: '15d' } },
    {
      id: 'looked',
      type: 'condition',
      cases: [{ branch: 'viewed_not_bought', when: { kind: 'recommendation_viewed', node: 'picks', bought: false } }],
      otherwise: 'no',
    },
    { id: 'coupon', type: 'coupon', campaign: 'phones-accessories', value: 5 },
    { id: 'tell', type: 'send', channel: 'push', template: 'category-coupon' },
    { id: 'done', type: 'exit' },
  ],
  edges: [
    { from: 'ordered', to: 'picks' },
    { from: 'picks', to: 'w15' },
    { from: 'w15', to: 'looked' },
    { from: 'looked', branch: 'viewed_not_bought', to: 'coupon' },
    { from: 'looked', branch: 'no', to: 'done' },
    { from: 'coupon', to: 'tell' },
  ],
  settings: { reentry: { mode: 'after_exit' } },
};

/** A scenario journey with some send / recommend nodes on other channels or templates (by node id). */
export function withSends<T extends { nodes: object[] }>(journey: T, sends: Record<string, { channel: string; template: string }>): T {
  const unknown = Object.keys(sends).filter((id) => !journey.nodes.some((n) => (n as { id: string }).id === id));
  if (unknown.length > 0) throw new Error(`no nodes ${unknown.join(', ')}`);
  return { ...journey, nodes: journey.nodes.map((n) => ({ ...n, ...sends[(n as { id: string }).id] })) };
}
