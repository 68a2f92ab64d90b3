import { describe, expect, it } from 'vitest';
import { activeHourTime, allowedTime, brokenCap, inQuietHours, messagingSettingsSchema } from '../src/messaging/index.ts';

const settings = (s: Record<string, unknown>) => messagingSettingsSchema.parse(s);
const at = (iso: string) => Date.parse(iso);
const NY = 'America/New_York';

describe('quiet hours and blackout dates', () => {
  const quiet = settings({ quietHours: { start: '21:00', end: '08:00', action: 'defer' } });

  it('wraps midnight in local time', () => {
    const q = quiet.quietHours as NonNullable<typeof quiet.quietHours>;
    expect(inQuietHours(q, NY, at('2026-01-10T01:30:00Z'))).toBe(false); // 20:30 EST: not yet
    expect(inQuietHours(q, NY, at('2026-01-10T02:30:00Z'))).toBe(true); // 21:30 EST
    expect(inQuietHours(q, NY, at('2026-01-10T12:59:00Z'))).toBe(true); // 07:59 EST
    expect(inQuietHours(q, NY, at('2026-01-10T13:00:00Z'))).toBe(false); // 08:00 EST
  });

  it('defers to 08:00 local across the spring-forward night (EST → EDT)', () => {
    // Saturday 2026-03-07 23:00 EST; clocks jump at 02:00 on Sunday; 08:00 EDT is 12:00 UTC.
    expect(allowedTime(quiet, NY, at('2026-03-08T04:00:00Z'))).toEqual({
      kind: 'defer',
      until: at('2026-03-08T12:00:00Z'),
      reason: 'quiet hours 21:00–08:00 (America/New_York)',
    });
  });

  it('defers to 08:00 local across the fall-back night (EDT → EST)', () => {
    // Saturday 2026-10-31 22:00 EDT; clocks go back on Sunday 2026-11-01; 08:00 EST is 13:00 UTC.
    expect(allowedTime(quiet, NY, at('2026-11-01T02:00:00Z'))).toMatchObject({ kind: 'defer', until: at('2026-11-01T13:00:00Z') });
  });

  it('the same instant is quiet in one zone and not in another', () => {
    const t = at('2026-06-01T03:00:00Z');
    expect(allowedTime(quiet, NY, t).kind).toBe('defer'); // 23:00 EDT
    expect(allowedTime(quiet, 'Asia/Shanghai', t).kind).toBe('now'); // 11:00 CST
  });

  it('skips blackout dates (then quiet hours) or drops when told to', () => {
    const s = settings({ quietHours: { start: '21:00', end: '08:00', action: 'defer' }, blackoutDates: ['2026-11-11'] });
    // 10:00 on 11 November in Shanghai: the whole day is out; the next day starts in quiet hours until 08:00.
    expect(allowedTime(s, 'Asia/Shanghai', at('2026-11-11T02:00:00Z'))).toEqual({
      kind: 'defer',
      until: at('2026-11-12T00:00:00Z'),
      reason: 'blackout date 2026-11-11',
    });
    const drop = settings({ quietHours: { start: '21:00', end: '08:00', action: 'drop' } });
    expect(allowedTime(drop, NY, at('2026-01-10T03:00:00Z'))).toEqual({
      kind: 'drop',
      reason: 'quiet hours 21:00–08:00 (America/New_York)',
    });
  });
});

describe('frequency caps', () => {
  const caps = settings({
    frequencyCaps: [
      { channel: 'sms', period: 'day', max: 1 },
      { channel: 'all', period: 'week', max: 3 },
    ],
  }).frequencyCaps;

  it('counts the calendar day in the person’s zone', () => {
    // 23:30 EST on Monday 5 January and 00:30 EST on Tuesday are different days.
    const sent = [{ channel: 'sms', at: at('2026-01-06T04:30:00Z') }];
    expect(brokenCap(caps, NY, at('2026-01-06T04:45:00Z'), 'sms', sent)).toMatchObject({ period: 'day' });
    expect(brokenCap(caps, NY, at('2026-01-06T05:30:00Z'), 'sms', sent)).toBeNull();
    expect(brokenCap(caps, NY, at('2026-01-06T04:45:00Z'), 'email', sent)).toBeNull();
  });

  it('counts every channel in the calendar week (Monday to Sunday)', () => {
    const sent = ['2026-01-05T15:00:00Z', '2026-01-06T15:00:00Z', '2026-01-07T15:00:00Z'].map((t) => ({ channel: 'email', at: at(t) }));
    expect(brokenCap(caps, 'UTC', at('2026-01-11T15:00:00Z'), 'push', sent)).toMatchObject({ channel: 'all', period: 'week' }); // Sunday
    expect(brokenCap(caps, 'UTC', at('2026-01-12T15:00:00Z'), 'push', sent)).toBeNull(); // next Monday
  });
});

describe('send time', () => {
  it('waits for the next active hour within the window, else sends now', () => {
    const now = at('2026-01-10T15:20:00Z'); // 10:20 EST
    expect(activeHourTime(19, NY, now, 24)).toBe(at('2026-01-11T00:00:00Z')); // 19:00 EST
    expect(activeHourTime(19, NY, now, 4)).toBeNull(); // 8h40 away, window 4h
    expect(activeHourTime(10, NY, now, 24)).toBeNull(); // inside the active hour already
    expect(activeHourTime(null, NY, now, 24)).toBeNull();
  });
});
