import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HOUR, systemClock } from '../src/core/clock.ts';
import { normalizeEvent, writeBatch } from '../src/ingest/index.ts';
import { createTemplate, Dispatcher, putChannelSettings } from '../src/messaging/index.ts';
import { columnTypes, openStore, type Store, type StoreConfig } from '../src/store/index.ts';
import { createWorkspace } from '../src/workspaces/index.ts';
import type { ChildConfig } from './dispatch-crash-child.ts';
import { type Engine, emptyPostgresDatabase, engines } from './engines.ts';
import { TwilioMock } from './mock-providers/twilio.ts';
import { VoiceProviderMock } from './mock-providers/voice-provider.ts';

/**
 * Issue 5: "kill -9 during dispatch then restart shows no message sent twice with a new key".
 * A child process dispatches voice calls (a provider that dedupes on our key) and SMS (Twilio,
 * which we do not trust to dedupe); both mocks accept every request but never answer, so the child
 * is killed mid-call with every attempt on record. The restarted dispatcher resends the calls under
 * the same key (the provider places none twice), marks the SMS unknown without posting them again,
 * and sends rows the dead process had only claimed exactly once.
 */

const root = join(import.meta.dirname, '..');
const childScript = join(import.meta.dirname, 'dispatch-crash-child.ts');
const publicUrl = 'https://shop.test';
/** PostgreSQL: a claimed or sending row untouched this long belongs to a dead dispatcher. */
const leaseMs = 1_000;
const VOICE = 3;
const SMS = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number, abort?: () => string | null) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    const why = abort?.();
    if (why) throw new Error(`while waiting for ${what}: ${why}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** A new, empty store location: a DuckDB folder or a PostgreSQL database (migrated on first open). */
async function newLocation(engine: Engine): Promise<{ config: StoreConfig; cleanup: () => Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'shopflow-crash-'));
  if (engine === 'duckdb') {
    return { config: { url: '', dataDir, dedupeDays: 8 }, cleanup: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  const db = await emptyPostgresDatabase();
  return {
    config: { url: db.url, dataDir, dedupeDays: 8 },
    async cleanup() {
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

interface Row {
  message_key: string;
  status: string;
  attempts: number;
  channel: string;
  provider: string | null;
  address: string | null;
  reason: string | null;
}

async function outbox(store: Store): Promise<Map<string, Row>> {
  const rows = await store.query<Record<string, unknown>>(
    'SELECT message_key, status, attempts, channel, provider, address, reason FROM outbox ORDER BY message_key',
  );
  return new Map(
    rows.map((r) => [
      String(r.message_key),
      {
        message_key: String(r.message_key),
        status: String(r.status),
        attempts: Number(r.attempts ?? 0),
        channel: String(r.channel),
        provider: (r.provider as string | null) ?? null,
        address: (r.address as string | null) ?? null,
        reason: (r.reason as string | null) ?? null,
      },
    ]),
  );
}

/** Message Sent events per message key. */
async function sentEvents(store: Store, ws: number): Promise<Map<string, number>> {
  const rows = await store.query<{ message_id: string; n: number }>(
    `SELECT message_id, count(*) AS n FROM events WHERE workspace_id = $1 AND event = 'Message Sent' GROUP BY message_id`,
    [ws],
  );
  return new Map(rows.map((r) => [String(r.message_id).replace(/^msg\.(.*)\.sent$/, '$1'), Number(r.n)]));
}

const header = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/** The workspace, people with phones, templates, the two providers and the queued messages. */
async function seed(store: Store, voiceUrl: string, twilio: TwilioMock, voiceApiKey: string) {
  const now = systemClock.now();
  const ws = (await createWorkspace(store, 'crash', now)).workspaceId;
  const people = [
    ...Array.from({ length: VOICE }, (_, i) => ({ id: `voice${i}`, channel: 'voice', claim: false })),
    ...Array.from({ length: SMS }, (_, i) => ({ id: `sms${i}`, channel: 'sms', claim: false })),
    // Left 'claimed' by the dying process (no attempt made yet).
    { id: 'claimed-voice', channel: 'voice', claim: true },
    { id: 'claimed-sms', channel: 'sms', claim: true },
  ].map((p, i) => ({ ...p, phone: `+1415555${String(101 + i).padStart(4, '0')}` }));
  const ctx = { workspaceId: ws, receivedAt: now, source: 'api' as const };
  const events = people.map((p, i) => {
    const r = normalizeEvent(
      {
        type: 'identify',
        userId: p.id,
        messageId: `id-${p.id}`,
        traits: { name: p.id, phone: p.phone },
        timestamp: new Date(now).toISOString(),
      },
      [i],
      ctx,
    );
    if (!r.ok) throw new Error(`bad identify: ${JSON.stringify(r.errors)}`);
    return r.event;
  });
  await writeBatch(store, ws, events, now);
  const ids = await store.query<{ user_key: number; type: string; value: string }>(
    `SELECT user_key, type, value FROM identities WHERE workspace_id = $1 AND type IN ('user_id', 'phone')`,
    [ws],
  );
  const keyOf = new Map(ids.filter((r) => r.type === 'user_id').map((r) => [r.value, Number(r.user_key)]));
  expect(ids.filter((r) => r.type === 'phone').map((r) => r.value)).toHaveLength(people.length);

  await createTemplate(
    store,
    ws,
    { name: 'crash-sms', channel: 'sms', fields: { text: 'Hi {{ person.traits.name }}, new arrivals are in.' } },
    now,
  );
  await createTemplate(
    store,
    ws,
    { name: 'crash-voice', channel: 'voice', fields: { script: 'Hello {{ person.traits.name }}, this is Shop.' } },
    now,
  );
  await putChannelSettings(
    store,
    ws,
    'voice',
    { provider: 'voice_webhook', config: { url: voiceUrl, apiKey: voiceApiKey, callerId: '+14155550100' }, ratePerSecond: null },
    now,
  );
  await putChannelSettings(
    store,
    ws,
    'sms',
    {
      provider: 'twilio',
      config: { baseUrl: twilio.url, accountSid: twilio.accountSid, authToken: twilio.authToken, from: '+14155550100' },
      ratePerSecond: null,
    },
    now,
  );

  const json = columnTypes[store.dialect].json;
  const messages: { key: string; channel: string; phone: string; claim: boolean }[] = [];
  for (const [i, p] of people.entries()) {
    const key = `j1.v1.i${i + 1}.${p.channel}.s1`;
    const userKey = keyOf.get(p.id);
    if (userKey === undefined) throw new Error(`no person ${p.id}`);
    await store.query(
      `INSERT INTO outbox (workspace_id, message_key, journey_id, version, instance_id, node_id, user_key, action, channel, template, payload,
         status, transactional, attempts, next_attempt_at, created_at)
       VALUES ($1, $2, 1, 1, $3, $4, $5, 'message', $6, $7, CAST($8 AS ${json}), 'queued', FALSE, 0, CAST($9 AS BIGINT), $10)`,
      [
        ws,
        key,
        i + 1,
        p.channel,
        userKey,
        p.channel,
        `crash-${p.channel}`,
        JSON.stringify({ topic: 'marketing' }),
        // The rows to be left claimed are not due for the child's tick; the child claims them itself.
        p.claim ? now + HOUR : null,
        now - 1_000,
      ],
    );
    messages.push({ key, channel: p.channel, phone: p.phone, claim: p.claim });
  }
  return { ws, messages };
}

describe.each(engines)('kill -9 during dispatch (%s)', (engine) => {
  it('restarts without sending any message twice under a new key', async () => {
    const voiceApiKey = 'vk_crash_test_key';
    const voice = new VoiceProviderMock(voiceApiKey);
    const twilio = new TwilioMock('ACcrash', 'twilio-crash-token');
    await voice.start();
    await twilio.start();
    const location = await newLocation(engine);
    let store: Store | null = null;
    let child: ChildProcess | null = null;
    const dispatchers: Dispatcher[] = [];
    try {
      store = await openStore(location.config, systemClock);
      const { ws, messages } = await seed(store, voice.url, twilio, voiceApiKey);
      const voiceKeys = messages.filter((m) => m.channel === 'voice' && !m.claim).map((m) => m.key);
      const smsKeys = messages.filter((m) => m.channel === 'sms' && !m.claim).map((m) => m.key);
      const claimedKeys = messages.filter((m) => m.claim).map((m) => m.key);
      const claimedVoice = messages.find((m) => m.claim && m.channel === 'voice')?.key as string;
      const claimedSms = messages.find((m) => m.claim && m.channel === 'sms')?.key as string;
      // DuckDB: one process per file.
      await store.close();
      store = null;

      // Every call the child makes is accepted (placed, sent) and never answered.
      voice.placeButDontAnswer(VOICE);
      twilio.hangAfterAccepting(SMS);
      const config: ChildConfig = {
        url: location.config.url ?? '',
        dataDir: location.config.dataDir,
        publicUrl,
        leaseMs,
        expectSending: VOICE + SMS,
        claim: claimedKeys,
      };
      const proc = spawn(process.execPath, ['--import', 'tsx', childScript, JSON.stringify(config)], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = proc;
      let output = '';
      let exited: string | null = null;
      proc.stdout?.on('data', (d: Buffer) => {
        output += d.toString();
      });
      proc.stderr?.on('data', (d: Buffer) => {
        output += d.toString();
      });
      const exit = new Promise<NodeJS.Signals | null>((resolve) =>
        proc.once('exit', (code, signal) => {
          exited = `the child exited (code ${code}, signal ${signal}): ${output}`;
          resolve(signal);
        }),
      );
      await waitFor(
        'the child to be mid-call on every message',
        () => output.includes('READY') && voice.placed >= VOICE && twilio.received.length >= SMS,
        45_000,
        () => exited,
      );
      proc.kill('SIGKILL');
      expect(await exit).toBe('SIGKILL');
      child = null;
      expect(voice.server.received).toHaveLength(VOICE);
      expect(twilio.received).toHaveLength(SMS);

      store = await openStore(location.config, systemClock);
      const db = store;
      const before = await outbox(db);
      for (const key of [...voiceKeys, ...smsKeys]) {
        expect(before.get(key), key).toMatchObject({ status: 'sending', attempts: 1 });
      }
      for (const key of voiceKeys) expect(before.get(key)?.provider).toBe('voice_webhook');
      for (const key of smsKeys) expect(before.get(key)?.provider).toBe('twilio');
      for (const key of claimedKeys) expect(before.get(key), key).toMatchObject({ status: 'claimed', attempts: 0 });
      expect(await sentEvents(db, ws)).toEqual(new Map());

      const restartWith = (lease: number) => {
        const d = new Dispatcher(db, systemClock, {
          publicUrl,
          outbound: { allowPrivateNetworks: true, timeoutMs: 10_000 },
          leaseMs: lease,
        });
        dispatchers.push(d);
        return d;
      };
      if (engine === 'postgres') {
        // Within the lease the rows may belong to a live dispatcher: left alone.
        expect(await restartWith(60_000).recover()).toEqual({ requeued: 0, unknown: 0 });
        const [latest] = await db.query<{ at: number }>('SELECT max(updated_at) AS at FROM outbox');
        const leaseEnds = Number(latest?.at) + leaseMs;
        await waitFor('the lease to run out', () => systemClock.now() > leaseEnds, 10_000);
      }

      // The restart: from now on the mocks answer at once.
      const restarted = restartWith(leaseMs);
      expect(await restarted.recover()).toEqual({ requeued: VOICE + claimedKeys.length, unknown: SMS });
      expect(await restarted.tick()).toBe(VOICE + claimedKeys.length);

      const after = await outbox(db);
      // Voice: sent again under the same key, which the provider deduped: one call per message.
      for (const key of voiceKeys) expect(after.get(key), key).toMatchObject({ status: 'sent', attempts: 2, reason: null });
      expect(voice.placed).toBe(VOICE + 1);
      expect(new Set(voice.calls.map((c) => c.idempotencyKey))).toEqual(new Set([...voiceKeys, claimedVoice]));
      expect(voice.server.received).toHaveLength(2 * VOICE + 1);
      const voiceKeyByPhone = new Map(messages.filter((m) => m.channel === 'voice').map((m) => [m.phone, m.key]));
      for (const req of voice.server.received) {
        const to = (JSON.parse(req.body) as { to: string }).to;
        expect(header(req.headers['idempotency-key']), to).toBe(voiceKeyByPhone.get(to));
      }
      for (const key of voiceKeys) {
        expect(voice.server.received.filter((r) => header(r.headers['idempotency-key']) === key)).toHaveLength(2);
      }

      // SMS at Twilio: possibly delivered, so unknown and never posted again.
      for (const key of smsKeys) {
        expect(after.get(key), key).toMatchObject({ status: 'unknown', attempts: 1 });
        expect(after.get(key)?.reason).toMatch(/does not dedupe/);
      }
      expect(twilio.received).toHaveLength(SMS + 1);
      const smsTokens = twilio.received.map((r) => header(r.headers['i-twilio-idempotency-token']));
      expect(smsTokens.sort()).toEqual([...smsKeys, claimedSms].sort());

      // Claimed rows had not reached a provider: back to the queue and sent once.
      for (const key of claimedKeys) expect(after.get(key), key).toMatchObject({ status: 'sent', attempts: 1 });
      expect(twilio.delivered.filter((d) => d.idempotencyToken === claimedSms)).toHaveLength(1);

      // One Message Sent per delivered message; none for the unknown ones.
      const sent = await sentEvents(db, ws);
      expect(Object.fromEntries(sent)).toEqual(Object.fromEntries([...voiceKeys, ...claimedKeys].map((k) => [k, 1])));

      // Nothing is left to do, for this dispatcher or one more restart.
      expect(await restarted.tick()).toBe(0);
      const again = restartWith(leaseMs);
      expect(await again.recover()).toEqual({ requeued: 0, unknown: 0 });
      expect(await again.tick()).toBe(0);
      expect(voice.server.received).toHaveLength(2 * VOICE + 1);
      expect(twilio.received).toHaveLength(SMS + 1);
      expect(await sentEvents(db, ws)).toEqual(sent);
    } finally {
      child?.kill('SIGKILL');
      for (const d of dispatchers) await d.stop();
      await store?.close();
      await voice.stop();
      await twilio.stop();
      await location.cleanup();
    }
  });
});
