import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultOutboundOptions } from '../src/core/outbound-http.ts';
import type { OutgoingMessage } from '../src/messaging/channels/channel.ts';
import { DeliveryPool, type PoolItem } from '../src/messaging/dispatch/delivery-pool.ts';
import type { ProviderSpec } from '../src/messaging/dispatch/delivery-protocol.ts';

/**
 * A delivery thread that dies or stops answering must settle its batch, never hang it, and never
 * pass for a provider's answer: `unknown` where the provider does not dedupe on our key, `retry`
 * where it does, `retry` for everyone when the thread died before it could call anyone. Stand-in
 * threads (plain JS written to a temp folder) misbehave on cue: a message to `hang` is never
 * answered, `crash` throws, `exit` ends the thread, anything else is "sent".
 */

const dir = mkdtempSync(join(tmpdir(), 'shopflow-pool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, source: string): URL {
  const file = join(dir, name);
  writeFileSync(file, source);
  return pathToFileURL(file);
}

const misbehaving = script(
  'misbehaving.mjs',
  `import { parentPort } from 'node:worker_threads';
parentPort.on('message', (job) => {
  if (job.type === 'close') { parentPort.postMessage({ type: 'closed' }); parentPort.close(); return; }
  const to = job.items.map((i) => i.message.to);
  if (to.includes('hang')) return;
  if (to.includes('crash')) setImmediate(() => { throw new Error('boom'); });
  else if (to.includes('exit')) process.exit(3);
  else parentPort.postMessage({ type: 'done', id: job.id, outcomes: job.items.map((i) => ({ kind: 'sent', providerMessageId: 'p-' + i.message.messageKey })) });
});
parentPort.postMessage({ type: 'ready' });
`,
);

/** Dies while loading, before it could have called anyone. */
const brokenAtLoad = script('broken.mjs', `throw new Error('cannot load');\n`);

const spec = (provider: string, honoursIdempotencyKey: boolean): ProviderSpec => ({
  key: `1:${provider}`,
  updatedAt: 1,
  channel: 'sms',
  provider,
  config: {},
  ratePerSecond: null,
  honoursIdempotencyKey,
});
const twilio = spec('twilio', false);
const voice = spec('voice_webhook', true);

const message = (key: string, to: string): OutgoingMessage => ({
  workspaceId: 1,
  messageKey: key,
  channel: 'sms',
  userKey: 1,
  to,
  fields: { text: 'hi' },
  transactional: false,
  unsubscribeUrl: null,
  attempt: 1,
});

const items = (to: string): PoolItem[] => [
  { spec: twilio, message: message('a', to) },
  { spec: voice, message: message('b', to) },
];

const job = { now: 0, deadlineMs: 200, concurrency: 4 };

function pool(script: URL, graceMs = 100): DeliveryPool {
  return new DeliveryPool({ threads: 1, outbound: defaultOutboundOptions, graceMs, script });
}

describe('delivery pool', () => {
  it('returns what the thread answers', async () => {
    const p = pool(misbehaving);
    try {
      await p.prepare();
      expect(await p.deliver(items('ok'), job)).toEqual([
        { kind: 'sent', providerMessageId: 'p-a' },
        { kind: 'sent', providerMessageId: 'p-b' },
      ]);
    } finally {
      await p.close();
    }
  });

  for (const how of ['crash', 'exit'] as const) {
    it(`settles a batch whose thread dies mid-call (${how}) by what each provider guarantees, then starts a new thread`, async () => {
      const p = pool(misbehaving);
      try {
        await p.prepare();
        const [sms, call] = await p.deliver(items(how), job);
        expect(sms).toMatchObject({ kind: 'unknown', reason: expect.stringMatching(/delivery thread stopped.*not sent again/) });
        expect(call).toMatchObject({ kind: 'retry', reason: expect.stringMatching(/delivery thread stopped/) });
        expect((await p.deliver(items('ok'), job)).map((o) => o.kind)).toEqual(['sent', 'sent']);
      } finally {
        await p.close();
      }
    });
  }

  it('stops a thread that does not answer past the deadline and settles its batch', async () => {
    const p = pool(misbehaving, 100);
    try {
      await p.prepare();
      const [sms, call] = await p.deliver(items('hang'), job);
      expect(sms).toMatchObject({ kind: 'unknown', reason: expect.stringMatching(/did not answer within 300 ms/) });
      expect(call).toMatchObject({ kind: 'retry' });
      expect((await p.deliver(items('ok'), job)).map((o) => o.kind)).toEqual(['sent', 'sent']);
    } finally {
      await p.close();
    }
  });

  it('retries every message when the thread died before it loaded (no call was made)', async () => {
    const p = pool(brokenAtLoad);
    try {
      const outcomes = await p.deliver(items('ok'), job);
      for (const o of outcomes) expect(o).toMatchObject({ kind: 'retry', reason: expect.stringMatching(/before any provider call/) });
    } finally {
      await p.close();
    }
  });
});
