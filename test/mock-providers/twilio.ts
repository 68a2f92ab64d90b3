import type { ServerResponse } from 'node:http';
import { createTemplate, putChannelSettings } from '../../src/messaging/index.ts';
import type { Shop } from '../journey-fixtures.ts';
import { json, ProviderMock, type ReceivedRequest } from './mock-server.ts';

/** A message the Twilio mock accepted (and so "sent"). */
export interface TwilioDelivered {
  sid: string;
  to: string;
  from: string | null;
  messagingServiceSid: string | null;
  body: string;
  statusCallback: string | null;
  idempotencyToken: string | null;
}

/**
 * A Twilio Messages API double: checks Basic auth and the form, answers 201 `{sid, status}` or
 * Twilio's error JSON, and dedupes on `I-Twilio-Idempotency-Token` (a repeat gets the same sid and
 * sends nothing), so tests can show that retrying after a lost answer delivers once.
 */
export class TwilioMock extends ProviderMock {
  readonly delivered: TwilioDelivered[] = [];
  /** Numbers that texted STOP: sends to them fail with 21610. */
  readonly optedOut = new Set<string>();
  private readonly byToken = new Map<string, TwilioDelivered>();
  private acceptThenHang = 0;
  private nextSid = 1;

  constructor(
    readonly accountSid: string,
    readonly authToken: string,
  ) {
    super();
  }

  /** The `sms` channel settings that send through this mock (for putChannelSettings). */
  smsChannel(from = '+15005550006') {
    return {
      provider: 'twilio' as const,
      config: { baseUrl: this.url, accountSid: this.accountSid, authToken: this.authToken, from },
      ratePerSecond: null,
    };
  }

  /** Starts this mock as the shop's `sms` channel, with one SMS template `name` whose text is `text`. */
  async serveSms(shop: Shop, name: string, text: string): Promise<void> {
    await this.start();
    const now = shop.clock.now();
    await createTemplate(shop.store, shop.ws, { name, channel: 'sms', fields: { text } }, now);
    await shop.store.transaction((tx) => putChannelSettings(tx, shop.ws, 'sms', this.smsChannel(), now));
  }

  /** The next `times` valid messages are accepted (sent) but never answered: the client times out after Twilio acted. */
  hangAfterAccepting(times = 1): this {
    this.acceptThenHang += times;
    return this;
  }

  protected handle(req: ReceivedRequest, res: ServerResponse) {
    const path = `/2010-04-01/Accounts/${this.accountSid}/Messages.json`;
    if (req.method !== 'POST' || req.path !== path) {
      return json(res, 404, { code: 20404, message: 'The requested resource was not found', status: 404 });
    }
    const expected = `Basic ${Buffer.from(`${this.accountSid}:${this.authToken}`).toString('base64')}`;
    if (req.headers.authorization !== expected) return json(res, 401, { code: 20003, message: 'Authenticate', status: 401 });
    if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      return json(res, 400, { code: 20001, message: 'Expected a form-encoded body', status: 400 });
    }
    const form = new URLSearchParams(req.body);
    const to = form.get('To') ?? '';
    const from = form.get('From');
    const messagingServiceSid = form.get('MessagingServiceSid');
    const body = form.get('Body') ?? '';
    if (!from && !messagingServiceSid) return json(res, 400, { code: 21603, message: "A 'From' phone number is required.", status: 400 });
    if (!body) return json(res, 400, { code: 21602, message: 'Message body is required.', status: 400 });
    if (!/^\+[1-9]\d{6,14}$/.test(to)) {
      return json(res, 400, { code: 21211, message: `The 'To' number ${to} is not a valid phone number.`, status: 400 });
    }
    if (this.optedOut.has(to)) return json(res, 400, { code: 21610, message: 'Attempt to send to unsubscribed recipient', status: 400 });
    const token = headerValue(req.headers['i-twilio-idempotency-token']);
    const repeat = token === null ? undefined : this.byToken.get(token);
    const message = repeat ?? this.accept({ to, from, messagingServiceSid, body, statusCallback: form.get('StatusCallback'), token });
    if (this.acceptThenHang > 0) {
      this.acceptThenHang--;
      return; // never answered; MockServer.stop closes the connection
    }
    json(res, 201, {
      sid: message.sid,
      account_sid: this.accountSid,
      to: message.to,
      from: message.from,
      messaging_service_sid: message.messagingServiceSid,
      body: message.body,
      status: 'queued',
    });
  }

  private accept(m: {
    to: string;
    from: string | null;
    messagingServiceSid: string | null;
    body: string;
    statusCallback: string | null;
    token: string | null;
  }): TwilioDelivered {
    const sid = `SM${(this.nextSid++).toString(16).padStart(32, '0')}`;
    const message: TwilioDelivered = {
      sid,
      to: m.to,
      from: m.from,
      messagingServiceSid: m.messagingServiceSid,
      body: m.body,
      statusCallback: m.statusCallback,
      idempotencyToken: m.token,
    };
    this.delivered.push(message);
    if (m.token !== null) this.byToken.set(m.token, message);
    return message;
  }
}

function headerValue(v: string | string[] | undefined): string | null {
  if (Array.isArray(v)) return v[0] ?? null;
  return v ?? null;
}
