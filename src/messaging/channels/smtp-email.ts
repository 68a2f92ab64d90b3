import { connect as netConnect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import nodemailer, { type NodemailerError, type SMTPPoolOptions, type SMTPPoolSentMessageInfo, type Transporter } from 'nodemailer';
import { z } from 'zod';
import { checkLiteralHost, guardedLookup } from '../../core/outbound-http.ts';
import type { ChannelProvider, OutgoingMessage, ProviderDeps, ProviderFactory, SendOutcome } from './channel.ts';

/**
 * Email over SMTP (any relay or ESP's SMTP endpoint) through a small pool of nodemailer
 * connections. The outbound-network rule holds here too: every pooled connection is opened by us,
 * to an address the guard accepts, and nodemailer speaks SMTP (and TLS, verified against the
 * configured host name) over it. SMTP has no idempotency: once any byte of the message went to the
 * server and no reply came back, the outcome is `unknown` and the message is never sent again.
 */

/** Per-send deadline (connecting, the SMTP exchange and waiting for a pooled connection) when none is set. */
export const defaultSmtpTimeoutMs = 30_000;

const headerSafe = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[^\r\n]*$/, 'a single line');

/** SMTP's configuration: the relay, its credentials, and the sender shown on every message. */
export const smtpConfigSchema = z
  .strictObject({
    host: headerSafe(253).describe('SMTP relay host name (or IP); private addresses are refused unless the server allows them'),
    port: z.number().int().min(1).max(65_535).default(587).describe('SMTP port: 587 (submission, STARTTLS) or 465 with `secure`'),
    secure: z.boolean().default(false).describe('TLS from the first byte (port 465); otherwise STARTTLS is used when offered'),
    auth: z
      .strictObject({
        user: z.string().min(1).max(500).describe('SMTP user name'),
        pass: z.string().min(1).max(1_000).describe('SMTP password or API key'),
      })
      .optional()
      .describe('Credentials, when the relay wants them'),
    from: headerSafe(500).describe('Sender, e.g. "Shop <news@shop.example>"'),
    replyTo: headerSafe(500).optional().describe('Where replies go, when not to `from`'),
    timeoutMs: z
      .number()
      .int()
      .min(100)
      .max(300_000)
      .optional()
      .describe(`Deadline of one send, connecting included (default ${defaultSmtpTimeoutMs})`),
  })
  .describe('SMTP email provider');
export type SmtpConfig = z.infer<typeof smtpConfigSchema>;

/** The rendered email fields (templates/schema.ts). */
const emailFieldsSchema = z.object({ subject: z.string().min(1), html: z.string().min(1), text: z.string().optional() });

/**
 * The Message-ID of a message key: deterministic, so a copy that did get through can be matched
 * to the send. Characters outside [A-Za-z0-9._-] become `=XX`, which keeps distinct keys distinct.
 */
export function smtpMessageId(messageKey: string): string {
  const local = messageKey.replace(/[^A-Za-z0-9._-]/g, (c) =>
    [...Buffer.from(c, 'utf8')].map((b) => `=${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
  return `<${local}@shopflow>`;
}

/** The id a relay gave the message: an id nodemailer read from the reply (Outlook, SES), Postfix's "queued as X", else ours. */
function providerIdOf(info: SMTPPoolSentMessageInfo, messageId: string): string {
  return info.serverMessageId ?? /queued as\s+([\w.@<>-]+)/i.exec(info.response ?? '')?.[1] ?? messageId;
}

/** What a failed send means, from nodemailer's code, command and reply code. */
export function smtpFailureOutcome(err: unknown, messageMayHaveArrived: boolean): SendOutcome {
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as NodemailerError;
  const code = e.code ?? '';
  const reason = `${code || 'error'}${e.command ? ` (${e.command})` : ''}: ${e.message ?? ''}`.slice(0, 500);
  if (code === 'EBLOCKED') return { kind: 'failed', reason };
  if (typeof e.responseCode === 'number' && e.responseCode >= 400) {
    // The server answered no: it did not take the message, so another try cannot deliver twice.
    // 5xx is permanent (a rejected recipient, a refused message) except 503, a session out of step.
    const permanent = e.responseCode >= 500 && e.responseCode !== 503;
    return permanent ? { kind: 'failed', reason } : { kind: 'retry', reason };
  }
  // No reply: the connection failed, timed out or was cut off (by the deadline too). Before the
  // message data went out nothing can have been delivered; after, it may have been.
  if (messageMayHaveArrived) return { kind: 'unknown', reason };
  // Messages nodemailer refuses to send (no valid recipient, too large for the server, bad
  // configuration) fail the same way every time.
  if (code === 'EENVELOPE' || code === 'EMESSAGE' || code === 'ECONFIG') return { kind: 'failed', reason };
  return { kind: 'retry', reason };
}

class SmtpEmailProvider implements ChannelProvider {
  readonly name = 'smtp';
  readonly honoursIdempotencyKey = false;
  private readonly transport: Transporter<SMTPPoolSentMessageInfo>;
  private readonly timeoutMs: number;
  /** Per send (keyed by its signal): the message streams nodemailer built, to tell whether any byte was read. */
  private readonly streams = new WeakMap<AbortSignal, Readable[]>();

  constructor(
    private readonly config: SmtpConfig,
    private readonly deps: ProviderDeps,
  ) {
    this.timeoutMs = config.timeoutMs ?? defaultSmtpTimeoutMs;
    const options: SMTPPoolOptions & { pool: true } = {
      pool: true,
      maxConnections: 3,
      maxRequeues: 2,
      host: config.host,
      port: config.port,
      secure: config.secure,
      ...(config.auth ? { auth: { user: config.auth.user, pass: config.auth.pass } } : {}),
      connectionTimeout: this.timeoutMs,
      greetingTimeout: this.timeoutMs,
      socketTimeout: this.timeoutMs,
      disableFileAccess: true,
      disableUrlAccess: true,
      getSocket: (_options, callback) => this.openSocket(callback),
    };
    this.transport = nodemailer.createTransport(options);
    // The stream a connection reads the message from: nodemailer reads it only after the server
    // answered DATA with 354, so "it was read" means the message may have reached the server.
    this.transport.use('stream', (mail, done) => {
      const seen = mail.data.signal ? this.streams.get(mail.data.signal) : undefined;
      if (seen && mail.message) {
        mail.message.processFunc((input) => {
          seen.push(input);
          return input;
        });
      }
      done();
    });
  }

  async send(message: OutgoingMessage, signal: AbortSignal): Promise<SendOutcome> {
    const fields = emailFieldsSchema.safeParse(message.fields);
    if (!fields.success) return { kind: 'failed', reason: `invalid email fields: ${fields.error.issues[0]?.message ?? 'unreadable'}` };
    if (!/^[^\s@<>,;]+@[^\s@<>,;]+$/.test(message.to)) return { kind: 'failed', reason: 'the address is not an email address' };
    const messageId = smtpMessageId(message.messageKey);
    const sendSignal = AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]);
    const seen: Readable[] = [];
    this.streams.set(sendSignal, seen);
    const unsubscribe = message.unsubscribeUrl;
    try {
      const info = await this.transport.sendMail({
        from: this.config.from,
        ...(this.config.replyTo ? { replyTo: this.config.replyTo } : {}),
        to: message.to,
        subject: fields.data.subject.replace(/[\r\n]+/g, ' '),
        html: fields.data.html,
        ...(fields.data.text === undefined ? {} : { text: fields.data.text }),
        messageId,
        xMailer: false,
        // RFC 8058 one-click unsubscribe: List-Unsubscribe: <url> plus the List-Unsubscribe-Post marker.
        ...(unsubscribe === null ? {} : { list: { unsubscribe }, headers: { 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' } }),
        signal: sendSignal,
      });
      return { kind: 'sent', providerMessageId: providerIdOf(info, messageId) };
    } catch (err) {
      const outcome = smtpFailureOutcome(
        err,
        seen.some((s) => s.readableDidRead),
      );
      if (outcome.kind === 'sent' || !sendSignal.aborted || signal.aborted) return outcome;
      return { ...outcome, reason: `no answer within ${this.timeoutMs} ms: ${outcome.reason}` };
    } finally {
      this.streams.delete(sendSignal);
    }
  }

  async close(): Promise<void> {
    this.transport.close();
  }

  /**
   * Opens each pooled connection ourselves, through the same address guard as HTTP: a literal IP
   * is checked as is, a host name is resolved by `guardedLookup`, which keeps public addresses
   * only. nodemailer still knows the host by name, so TLS (implicit or STARTTLS) verifies it.
   */
  private openSocket(callback: (err: Error | null, options?: { connection: Socket }) => void): void {
    const { host, port } = this.config;
    const blocked = checkLiteralHost(host, this.deps.allowPrivateNetworks);
    if (blocked !== null) {
      callback(Object.assign(new Error(blocked), { code: 'EBLOCKED' }));
      return;
    }
    const socket = netConnect({ host: host.replace(/^\[|\]$/g, ''), port, lookup: guardedLookup(this.deps.allowPrivateNetworks) });
    const timer = setTimeout(
      () => socket.destroy(Object.assign(new Error(`connecting to ${host}:${port} timed out`), { code: 'ETIMEDOUT' })),
      this.timeoutMs,
    );
    const onError = (err: Error) => {
      clearTimeout(timer);
      callback(err);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      callback(null, { connection: socket });
    });
  }
}

/** The SMTP email provider (nodemailer, pooled, behind the outbound address guard). */
export const smtpEmailProvider: ProviderFactory<SmtpConfig> = {
  name: 'smtp',
  channel: 'email',
  honoursIdempotencyKey: false,
  config: smtpConfigSchema,
  create: (config, deps) => new SmtpEmailProvider(config, deps),
};
