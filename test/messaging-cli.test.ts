import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultMessagingSettings } from '../src/messaging/governance/settings.ts';
import { shopflowAsync } from './cli-process.ts';
import { engines } from './engines.ts';
import { type Harness, startHarness } from './server-harness.ts';

/** `shopflow channels …` and `shopflow messaging …` against a running server, as an operator would use them. */
const twilio = { accountSid: 'AC0123456789', authToken: 'tw-secret-token', from: '+15550100' };
const rules = {
  frequencyCaps: [{ channel: 'sms', period: 'week', max: 2 }],
  quietHours: { start: '21:00', end: '08:00', action: 'defer' },
  defaultTimezone: 'Asia/Shanghai',
  smsOptOutText: '回T退订',
};

describe.each(engines)('messaging CLI on %s', (engine) => {
  let h: Harness;
  let url: string;
  const dir = mkdtempSync(join(tmpdir(), 'shopflow-messaging-'));
  const file = (name: string, content: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  };
  const run = (...args: string[]) => shopflowAsync([...args, '--server', url, '--admin-key', h.keys.adminKey]);

  beforeAll(async () => {
    h = await startHarness(engine);
    url = await h.listen();
    const res = await h.server.app.inject({
      method: 'POST',
      url: '/v1/batch',
      headers: { authorization: h.writeAuth },
      payload: { batch: [{ type: 'identify', userId: 'ann', traits: { email: 'ann@example.com' } }] },
    });
    expect(res.statusCode, res.body).toBe(200);
  });
  afterAll(async () => h?.dispose());

  // Each CLI run starts a Node process (~2 s of CPU): runs are few, and parallel where independent.
  it('lists channels, sets a provider, keeps the rate limit unless given, and masks secrets', async () => {
    const before = await run('channels', 'list');
    expect(before.status).toBe(0);
    expect(before.stdout).toMatch(/^sms +sandbox +none$/m);
    expect(before.stdout).toMatch(/^channel +provider +rate limit +updated$/m);

    const set = await run('channels', 'set', 'sms', '--provider', 'twilio', '--config', file('twilio.json', twilio), '--rate', '5');
    expect(set.stderr).toBe('');
    expect(set.stdout).toContain('sms: twilio, rate limit 5/s');
    expect(set.stdout).toContain('"authToken":"••••"');
    expect(set.stdout).not.toContain(twilio.authToken);

    // No --rate: the saved 5/s stays (PUT alone would reset it to none).
    const again = await run('channels', 'set', 'sms', '--provider', 'twilio', '--config', join(dir, 'twilio.json'));
    expect(again.stdout).toContain('sms: twilio, rate limit 5/s');
    const [list, json] = await Promise.all([run('channels', 'list'), run('channels', 'list', '--json')]);
    expect(list.stdout).toMatch(/^sms +twilio +5\/s +\d{4}-\d\d-\d\dT/m);
    expect(list.stdout).toMatch(/^push +sandbox +none/m);
    const sms = JSON.parse(json.stdout).find((c: { channel: string }) => c.channel === 'sms');
    expect(sms).toMatchObject({ provider: 'twilio', ratePerSecond: 5, config: { accountSid: twilio.accountSid, authToken: '••••' } });
    expect(sms.providers).toEqual(['sandbox', 'twilio', 'aliyun']);

    const cleared = await run('channels', 'set', 'sms', '--provider', 'sandbox', '--rate', 'none');
    expect(cleared.stdout).toContain('sms: sandbox, rate limit none');
  });

  it('prints what the server refused, with where', async () => {
    const [provider, config, channel, rate, badJson] = await Promise.all([
      run('channels', 'set', 'sms', '--provider', 'nope'),
      run('channels', 'set', 'sms', '--provider', 'twilio', '--config', file('half.json', { from: '+15550100' }), '--rate', '1'),
      run('channels', 'set', 'fax', '--provider', 'sandbox', '--rate', '1'),
      run('channels', 'set', 'sms', '--provider', 'sandbox', '--rate', 'fast'),
      run('channels', 'set', 'sms', '--provider', 'twilio', '--config', file('broken.json', '{"accountSid": '), '--rate', '1'),
    ]);
    for (const r of [provider, config, channel, rate, badJson]) {
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
    }
    expect(provider.stderr).toBe(
      'shopflow: server said 400: no provider "nope" for sms; choose one of sandbox, twilio, aliyun (at provider)\n',
    );
    expect(config.stderr).toMatch(/^shopflow: server said 400: .* \(at config\.accountSid\)\n/);
    // Every problem of the config, one a line.
    expect(config.stderr).toMatch(/\n {2}.* \(at config\.authToken\)\n$/);
    expect(channel.stderr).toMatch(/^shopflow: server said 400: Invalid option: expected one of "sms"\|.* \(at channel\)\n$/);
    expect(rate.stderr).toBe('shopflow: --rate must be calls a second (e.g. 10) or "none", not "fast"\n');
    expect(badJson.stderr).toMatch(/^shopflow: --config .*broken\.json is not a JSON file: /);
  });

  it('prints the contact rules and replaces them from a file', async () => {
    const shown = await run('messaging', 'settings');
    expect(JSON.parse(shown.stdout)).toEqual(defaultMessagingSettings);

    const [saved, refused] = await Promise.all([
      run('messaging', 'settings', '--file', file('rules.json', rules)),
      run('messaging', 'settings', '--file', file('bad-rules.json', { quietHours: { start: '25:00', end: '08:00', action: 'defer' } })),
    ]);
    expect(saved.stdout).toMatch(/^contact rules saved:\n/);
    expect(JSON.parse(saved.stdout.replace(/^contact rules saved:\n/, ''))).toMatchObject(rules);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toBe('shopflow: server said 400: HH:MM, 24-hour (at quietHours.start)\n');
    // Only the good file was applied, and fields it left out are at their defaults.
    const { body } = await h.admin('GET', '/api/messaging/settings');
    expect(body).toEqual({ ...defaultMessagingSettings, ...rules });
  });

  it('unsubscribes and subscribes a person, by user id or another identity', async () => {
    const [out, consent, whole] = await Promise.all([
      run('messaging', 'unsubscribe', '--user', 'ann', '--channel', 'sms'),
      run('messaging', 'subscribe', '--user', 'ann@example.com', '--by', 'email', '--channel', 'email', '--topic', 'news'),
      run('messaging', 'unsubscribe', '--user', 'ann', '--channel', 'voice', '--topic', '*'),
    ]);
    expect(out.stdout).toMatch(/^ann: unsubscribed from marketing on sms\n/);
    expect(out.stdout).toMatch(/ {2}sms marketing: unsubscribed \(api, \d{4}-/);
    expect(consent.stdout).toMatch(/^ann@example\.com: subscribed to news on email\n/);
    expect(whole.stdout).toMatch(/^ann: unsubscribed from everything on voice\n/);

    const { body } = await h.admin('GET', '/api/subscriptions?userId=ann');
    expect(body.subscriptions).toMatchObject([
      { channel: 'email', topic: 'news', subscribed: true, source: 'api' },
      { channel: 'sms', topic: 'marketing', subscribed: false },
      { channel: 'voice', topic: '*', subscribed: false },
    ]);

    const [nobody, badChannel, badTopic] = await Promise.all([
      run('messaging', 'unsubscribe', '--user', 'nobody', '--channel', 'sms'),
      run('messaging', 'subscribe', '--user', 'ann', '--channel', 'fax'),
      run('messaging', 'subscribe', '--user', 'ann', '--channel', 'sms', '--topic', 'Big News'),
    ]);
    expect(nobody.status).toBe(2);
    expect(nobody.stderr).toBe('shopflow: server said 404: no person with user_id "nobody" (at userId)\n');
    expect(badChannel.stderr).toMatch(/^shopflow: server said 400: Invalid option: .* \(at channel\)\n$/);
    expect(badTopic.stderr).toMatch(/^shopflow: server said 400: .* \(at topic\)\n$/);
  });

  it('saves, lists, previews for a real person and deletes a template', async () => {
    const sms = file('welcome.json', {
      channel: 'sms',
      fields: { text: 'Hi {{ person.traits.email }}, order {{ event.order_id }} is in{% if coupon %}, code {{ coupon.code }}{% endif %}' },
    });
    expect((await run('templates', 'set', 'welcome-sms', '--file', sms)).stdout).toBe('template "welcome-sms" (sms) created\n');
    const [list, preview, byEmail] = await Promise.all([
      run('templates', 'list', '--channel', 'sms'),
      run('templates', 'preview', 'welcome-sms', '--user', 'ann', '--event', '{"order_id":"o-9"}', '--coupon', '{"code":"SAVE10"}'),
      run('templates', 'preview', 'welcome-sms', '--email', 'ANN@example.com'),
    ]);
    expect(list.stdout).toMatch(/^welcome-sms +sms +text +\d{4}-\d\d-\d\dT/m);
    expect(preview.stdout).toBe('text:\n  Hi ann@example.com, order o-9 is in, code SAVE10\n');
    expect(byEmail.stdout).toBe('text:\n  Hi ann@example.com, order  is in\n');

    const changed = file('welcome2.json', { channel: 'sms', fields: { text: 'Welcome back' } });
    expect((await run('templates', 'set', 'welcome-sms', '--file', changed)).stdout).toBe('template "welcome-sms" (sms) replaced\n');
    const [shown, nobody, badEvent, badFile] = await Promise.all([
      run('templates', 'show', 'welcome-sms'),
      run('templates', 'preview', 'welcome-sms', '--user', 'nobody'),
      run('templates', 'preview', 'welcome-sms', '--user', 'ann', '--event', '[1]'),
      run('templates', 'set', 'broken', '--file', file('broken-template.json', '{"channel": ')),
    ]);
    expect(JSON.parse(shown.stdout)).toMatchObject({ name: 'welcome-sms', channel: 'sms', fields: { text: 'Welcome back' } });
    expect(nobody.stderr).toBe('shopflow: server said 404: no person with user_id "nobody" (at userId)\n');
    expect(badEvent.stderr).toMatch(/^shopflow: --event must be a JSON object/);
    expect(badFile.stderr).toMatch(/^shopflow: template .*broken-template\.json is not a JSON file: /);

    expect((await run('templates', 'delete', 'welcome-sms')).stdout).toBe('template "welcome-sms" deleted\n');
    expect((await run('templates', 'show', 'welcome-sms')).stderr).toMatch(/^shopflow: server said 404: /);
  });
});
