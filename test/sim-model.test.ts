import { describe, expect, it } from 'vitest';
import { DAY, HOUR } from '../src/core/clock.ts';
import { normalizePhone } from '../src/core/identities.ts';
import { localHour, offsetMs } from '../src/core/local-time.ts';
import { type Channel, type Responder, Rng, respondToMessage, responseProbabilities, type SimMessage } from '../src/sim/index.ts';

// 2025-11-20 is a Thursday; 12:00 UTC = 20:00 in Shanghai, 07:00 in New York.
const noonUtc = Date.UTC(2025, 10, 20, 12);
const evening = noonUtc; // Shanghai 20:00
const night = Date.UTC(2025, 10, 20, 19); // Shanghai 03:00

const allConsent: Record<Channel, boolean> = { email: true, sms: true, push: true, wechat: true };
const base: Responder = {
  timezone: 'Asia/Shanghai',
  consent: allConsent,
  preferredChannel: 'sms',
  discountSensitivity: 0.5,
  lastOrderAt: evening - 20 * DAY,
  messagesLast7Days: 0,
  averageOrderValue: 60,
};
const sms: SimMessage = { channel: 'sms', sentAt: evening };
const coupon: SimMessage = { ...sms, couponValue: 15 };

/** Empirical conversion rate over n people, each with their own seeded stream. */
function conversionRate(user: Responder, message: SimMessage, n = 40_000, seed = 1): number {
  let converted = 0;
  for (let i = 0; i < n; i++) if (respondToMessage(user, message, Rng.of(seed, i)).converted) converted++;
  return converted / n;
}

describe('response model', () => {
  it('converts coupon-sensitive people far more than insensitive ones when a coupon is offered', () => {
    const sensitive = { ...base, discountSensitivity: 0.9 };
    const insensitive = { ...base, discountSensitivity: 0.1 };
    const pS = responseProbabilities(sensitive, coupon).expectedConversion;
    const pI = responseProbabilities(insensitive, coupon).expectedConversion;
    expect(pS / pI).toBeGreaterThan(2);
    // Without a coupon sensitivity does not matter.
    expect(responseProbabilities(sensitive, sms).expectedConversion).toBeCloseTo(
      responseProbabilities(insensitive, sms).expectedConversion,
      10,
    );
    // And the draws agree with the probabilities.
    const rS = conversionRate(sensitive, coupon);
    const rI = conversionRate(insensitive, coupon);
    expect(rS).toBeGreaterThan(2 * rI);
    expect(Math.abs(rS - pS)).toBeLessThan(0.25 * pS);
  });

  it('never reaches people without consent, and reaches fatigued people less', () => {
    const noConsent = { ...base, consent: { ...allConsent, sms: false } };
    expect(responseProbabilities(noConsent, coupon)).toMatchObject({ deliver: 0, expectedConversion: 0 });
    expect(conversionRate(noConsent, coupon, 5000)).toBe(0);
    const fresh = responseProbabilities(base, coupon).expectedConversion;
    const tired = responseProbabilities({ ...base, messagesLast7Days: 8 }, coupon).expectedConversion;
    expect(tired).toBeLessThan(0.6 * fresh);
    expect(conversionRate({ ...base, messagesLast7Days: 8 }, coupon)).toBeLessThan(conversionRate(base, coupon));
  });

  it('rewards the preferred channel, the evening in the user’s own time zone and recent buyers', () => {
    const p = (u: Responder, m: SimMessage) => responseProbabilities(u, m).expectedConversion;
    expect(p(base, sms)).toBeGreaterThan(1.5 * p({ ...base, preferredChannel: 'email' }, sms));
    expect(p(base, sms)).toBeGreaterThan(1.8 * p(base, { ...sms, sentAt: night }));
    // The same UTC instant is evening in Shanghai but early morning in New York.
    expect(p(base, sms)).toBeGreaterThan(p({ ...base, timezone: 'America/New_York' }, sms));
    expect(p(base, sms)).toBeGreaterThan(p({ ...base, lastOrderAt: evening - 400 * DAY }, sms));
    expect(p({ ...base, activeHour: 20 }, sms)).toBeGreaterThan(p({ ...base, activeHour: 9 }, sms));
    expect(p(base, { ...sms, personalised: true })).toBeGreaterThan(p(base, sms));
  });

  it('is deterministic and always consumes five numbers (common random numbers across arms)', () => {
    const a = Rng.of(9, 1);
    const b = Rng.of(9, 1);
    expect(respondToMessage(base, coupon, a)).toEqual(respondToMessage(base, coupon, b));
    respondToMessage({ ...base, consent: { ...allConsent, sms: false } }, sms, a);
    respondToMessage(base, coupon, b);
    expect(a.next()).toBe(b.next());
    for (const p of Object.values(
      responseProbabilities(
        { ...base, discountSensitivity: 1, messagesLast7Days: 0 },
        { ...coupon, couponValue: 1000, personalised: true },
      ),
    )) {
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThanOrEqual(1);
    }
  });
});

describe('simulator building blocks', () => {
  it('computes local time with DST', () => {
    expect(offsetMs('Asia/Shanghai', noonUtc)).toBe(8 * HOUR);
    expect(offsetMs('America/New_York', Date.UTC(2025, 6, 1))).toBe(-4 * HOUR);
    expect(offsetMs('America/New_York', Date.UTC(2025, 11, 1))).toBe(-5 * HOUR);
    // US DST ends 2025-11-02 06:00 UTC: an hour before and after.
    expect(offsetMs('America/New_York', Date.UTC(2025, 10, 2, 5, 30))).toBe(-4 * HOUR);
    expect(offsetMs('America/New_York', Date.UTC(2025, 10, 2, 6, 30))).toBe(-5 * HOUR);
    expect(localHour('Asia/Shanghai', night)).toBe(3);
  });

  it('has a seeded generator with sane distributions', () => {
    const r = Rng.of(1, 2);
    const xs = Array.from({ length: 20_000 }, () => r.next());
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.48);
    expect(mean).toBeLessThan(0.52);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const g = Array.from({ length: 5000 }, () => r.geometric(3));
    expect(g.reduce((a, b) => a + b, 0) / g.length).toBeCloseTo(3, 0);
    expect(Rng.of(1, 2).next()).toBe(xs[0]);
    expect(Rng.of(1, 3).next()).not.toBe(xs[0]);
  });

  it('formats phones that libphonenumber accepts', () => {
    expect(normalizePhone('+8613812345678')).toBe('+8613812345678');
  });
});
