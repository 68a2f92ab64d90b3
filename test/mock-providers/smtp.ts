import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

/** A message the SMTP mock took in (answered 250, or held without an answer when hanging). */
export interface SmtpReceived {
  mailFrom: string;
  rcptTo: string[];
  /** The message as sent (CRLF line ends, dot-unstuffed). */
  raw: string;
  /** Header name (lower case) → values, unfolded, in order. */
  headers: Record<string, string[]>;
  /** Leaf MIME parts (or the body itself), decoded. */
  parts: MimePart[];
  /** True when the mock never answered the final dot. */
  hung: boolean;
}

export interface MimePart {
  contentType: string;
  body: string;
}

/** Header block → lower-case name → unfolded values. */
export function parseHeaders(block: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const unfolded = block.replace(/\r?\n[ \t]+/g, ' ');
  for (const line of unfolded.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (!out[name]) out[name] = [];
    out[name].push(value);
  }
  return out;
}

function splitEntity(raw: string): { headers: Record<string, string[]>; body: string } {
  const at = raw.indexOf('\r\n\r\n');
  return at < 0 ? { headers: parseHeaders(raw), body: '' } : { headers: parseHeaders(raw.slice(0, at)), body: raw.slice(at + 4) };
}

function decode(body: string, encoding: string): string {
  switch (encoding.toLowerCase()) {
    case 'base64':
      return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
    case 'quoted-printable': {
      const bytes = body
        .replace(/=\r?\n/g, '')
        .replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
      return Buffer.from(bytes, 'latin1').toString('utf8');
    }
    default:
      return body;
  }
}

/** The leaf parts of a MIME entity (enough of MIME for our own messages: multipart nesting, QP and base64). */
function leafParts(raw: string): MimePart[] {
  const { headers, body } = splitEntity(raw);
  const contentType = headers['content-type']?.[0] ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (contentType.toLowerCase().startsWith('multipart/') && boundary) {
    const sections = body.split(`--${boundary}`).slice(1);
    return sections.filter((s) => !s.startsWith('--')).flatMap((s) => leafParts(s.replace(/^\r\n/, '').replace(/\r\n$/, '')));
  }
  return [
    {
      contentType: contentType.split(';')[0]?.trim().toLowerCase() ?? '',
      body: decode(body, headers['content-transfer-encoding']?.[0] ?? '7bit'),
    },
  ];
}

/**
 * A real SMTP server (smtp-server, plain text, no auth required) on a free local port: records each
 * message with its envelope, raw source, headers and parts; can reject chosen recipients with a
 * given reply code (550, 451 …), and can leave RCPT TO unanswered or take a message's data and
 * never answer the final dot.
 */
export class SmtpMock {
  readonly received: SmtpReceived[] = [];
  /** SMTP sessions opened (one per pooled connection). */
  connections = 0;
  port = 0;
  private readonly rejections = new Map<string, { code: number; message: string }>();
  private hangs = 0;
  private rcptHangs = 0;
  private queued = 0;
  private readonly server: SMTPServer;

  constructor() {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      closeTimeout: 200,
      disableReverseLookup: true,
      onConnect: (_session, callback) => {
        this.connections++;
        callback();
      },
      onRcptTo: (address, _session, callback) => {
        if (this.rcptHangs > 0) {
          this.rcptHangs--;
          return; // never answered: the client gives up before any message data went out
        }
        const rejection = this.rejections.get(address.address.toLowerCase());
        if (!rejection) return callback();
        return callback(Object.assign(new Error(rejection.message), { responseCode: rejection.code }));
      },
      onData: (stream, session, callback) => this.onData(stream, session, callback),
    });
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.server.address() as AddressInfo).port;
    return this.port;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(resolve));
  }

  /** RCPT TO this address is answered `code message` (e.g. 550 no such user, 451 try later). */
  rejectRecipient(address: string, code: number, message = code >= 500 ? 'No such user here' : 'Try again later'): this {
    this.rejections.set(address.toLowerCase(), { code, message });
    return this;
  }

  /** The next `times` messages are read to the end but their final dot is never answered. */
  hangAfterData(times = 1): this {
    this.hangs += times;
    return this;
  }

  /** The next `times` RCPT TO commands are never answered. */
  hangOnRecipient(times = 1): this {
    this.rcptHangs += times;
    return this;
  }

  /** The one message sent to `address` (fails the test if there is not exactly one). */
  messageTo(address: string): SmtpReceived {
    const found = this.received.filter((m) => m.rcptTo.includes(address));
    if (found.length !== 1) throw new Error(`${found.length} messages to ${address}`);
    return found[0] as SmtpReceived;
  }

  private onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback: (err?: Error | null, message?: string) => void): void {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const hung = this.hangs > 0;
      if (hung) this.hangs--;
      this.received.push({
        mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
        rcptTo: session.envelope.rcptTo.map((r) => r.address),
        raw,
        headers: splitEntity(raw).headers,
        parts: leafParts(raw),
        hung,
      });
      if (hung) return; // never answered: the connection is closed by the client or on stop()
      this.queued++;
      callback(null, `Ok: queued as Q${this.queued}`);
    });
  }
}
