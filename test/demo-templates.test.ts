import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderForPerson } from '../src/messaging/index.ts';
import { demoTemplates, installDemoTemplates } from '../src/sim/index.ts';
import { engines } from './engines.ts';
import { Shop } from './journey-fixtures.ts';

/** Every template the README and examples/journeys/ name exists in the demo shop and renders. */
describe.each(engines)('demo templates (%s)', (engine) => {
  let shop: Shop;
  beforeAll(async () => {
    shop = await Shop.open(engine);
  });
  afterAll(() => shop.dispose());

  it('installs once, covers every template the examples use, and renders each for a real person', async () => {
    const now = shop.clock.now();
    expect(await installDemoTemplates(shop.store, shop.ws, now)).toBe(demoTemplates().length);
    expect(await installDemoTemplates(shop.store, shop.ws, now)).toBe(0);
    const { readFileSync, readdirSync } = await import('node:fs');
    const used = new Set<string>(['coupon-arrived-sms', 'reminder-push', 'last-call-sms']);
    for (const f of readdirSync('examples/journeys')) {
      for (const m of readFileSync(`examples/journeys/${f}`, 'utf8').matchAll(/"template": "([\w.-]+)"/g)) used.add(m[1] as string);
    }
    const names = new Set(demoTemplates().map((t) => t.name));
    expect([...used].filter((n) => !names.has(n))).toEqual([]);
    await shop.identify('ann', { firstName: 'Ann', email: 'ann@example.com' });
    for (const t of demoTemplates()) {
      const { rendered } = await renderForPerson(
        shop.store,
        shop.ws,
        { template: t.name, userKey: shop.key('ann'), coupon: { code: 'SAVE10', value: 10, expires_at: now + 86_400_000 } },
        now,
      );
      if (JSON.stringify(t.fields).includes('coupon.code')) expect(JSON.stringify(rendered.fields)).toContain('SAVE10');
      if (t.channel === 'email') expect(rendered.fields.subject).toMatch(/^Ann, /);
    }
  });
});
