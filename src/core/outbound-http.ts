import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Agent, request, errors as undiciErrors } from 'undici';

/**
 * The one client for every outbound HTTP call (webhooks, providers). Targets are checked after
 * DNS resolution, on every connection (so also on every redirect hop and against DNS rebinding):
 * private, loopback, link-local (cloud metadata), CGNAT, multicast and reserved addresses are
 * refused unless `allowPrivateNetworks` is set (tests; providers deliberately hosted inside).
 * Responses are capped in size and time. Failures are values, never exceptions.
 */

export interface OutboundOptions {
  /** Allow loopback and private targets. Off by default. */
  allowPrivateNetworks: boolean;
  timeoutMs: number;
  maxResponseBytes: number;
  maxRedirects: number;
  /** Connections kept per origin (throughput to one provider). */
  connectionsPerOrigin: number;
  /**
   * Which resolved or literal addresses may be reached, overriding `allowPrivateNetworks` (which
   * means "any" when set, "public only" when not). Lets an operator admit one internal relay, and
   * lets tests treat a loopback address as "outside" to show that a redirect inside is refused.
   */
  isAllowedAddress?: AddressPolicy;
}

/** `true`: any address; `false`: public addresses only; a function: the addresses it accepts. */
export type AddressPolicy = boolean | ((ip: string) => boolean);

const allows = (policy: AddressPolicy, ip: string): boolean => (typeof policy === 'function' ? policy(ip) : policy || isPublicAddress(ip));

export const defaultOutboundOptions: OutboundOptions = {
  allowPrivateNetworks: false,
  timeoutMs: 10_000,
  maxResponseBytes: 1 << 20,
  maxRedirects: 3,
  connectionsPerOrigin: 32,
};

export interface OutboundRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  timeoutMs?: number;
  /** The caller's overall deadline or cancellation; without one, `timeoutMs` is also the overall deadline. */
  signal?: AbortSignal;
}

export interface OutboundResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: string;
  /** The URL that answered (after redirects). */
  url: string;
}

export type OutboundError =
  | 'invalid_url'
  | 'blocked_address'
  | 'connect_failed'
  | 'timeout'
  | 'connection_lost'
  | 'response_too_large'
  | 'too_many_redirects';

export type OutboundResult =
  | { ok: true; response: OutboundResponse }
  | {
      ok: false;
      error: OutboundError;
      message: string;
      /** The request may have reached the server (so it may have acted on it). */
      mayHaveArrived: boolean;
    };

/** Addresses no outbound call may reach by default (IPv4, and IPv6 incl. the v4-mapped forms). */
const privateRanges = (() => {
  const list = new BlockList();
  const v4: [string, number][] = [
    ['0.0.0.0', 8],
    ['10.0.0.0', 8],
    ['100.64.0.0', 10],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['172.16.0.0', 12],
    ['192.0.0.0', 24],
    ['192.0.2.0', 24],
    ['192.168.0.0', 16],
    ['198.18.0.0', 15],
    ['198.51.100.0', 24],
    ['203.0.113.0', 24],
    ['224.0.0.0', 4],
    ['240.0.0.0', 4],
  ];
  for (const [net, prefix] of v4) list.addSubnet(net, prefix, 'ipv4');
  const v6: [string, number][] = [
    ['::', 96], // unspecified, loopback and the deprecated IPv4-compatible ::a.b.c.d
    ['64:ff9b::', 96],
    ['64:ff9b:1::', 48],
    ['100::', 64],
    ['2001:db8::', 32],
    ['fc00::', 7],
    ['fe80::', 10],
    ['ff00::', 8],
  ];
  for (const [net, prefix] of v6) list.addSubnet(net, prefix, 'ipv6');
  return list;
})();

/** True for an address on the public internet. */
export function isPublicAddress(ip: string): boolean {
  const family = isIP(ip);
  if (family === 4) return !privateRanges.check(ip, 'ipv4');
  if (family !== 6) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1]) return isPublicAddress(mapped[1]);
  return !privateRanges.check(ip, 'ipv6');
}

class BlockedAddressError extends Error {
  readonly code = 'EBLOCKED';
}

/**
 * A `lookup` for net/tls/http2 connections that refuses non-public addresses: every user of raw
 * sockets (HTTP/2 to APNs, SMTP) passes it so the guard is the same everywhere.
 */
export function guardedLookup(allowPrivateNetworks: AddressPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      const allowed = addresses.filter((a) => allows(allowPrivateNetworks, a.address));
      if (allowed.length === 0) {
        const e = new BlockedAddressError(
          `${hostname} resolves to a private or reserved address (${addresses.map((a) => a.address).join(', ')})`,
        );
        return callback(e as NodeJS.ErrnoException, '', 0);
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
      const first = allowed[0] as LookupAddress;
      callback(null, first.address, first.family);
    });
  };
}

/** Checks a host before a non-HTTP connection is made (a literal IP skips `lookup`). */
export function checkLiteralHost(host: string, allowPrivateNetworks: AddressPolicy): string | null {
  const bare = host.replace(/^\[|\]$/g, '');
  if (isIP(bare) === 0) return null;
  return allows(allowPrivateNetworks, bare) ? null : `${bare} is a private or reserved address`;
}

/** Headers that must not follow a redirect to another origin (credentials for the first one). */
const credentialHeaders = new Set(['authorization', 'proxy-authorization', 'cookie']);

const failure = (error: OutboundError, message: string, mayHaveArrived: boolean): OutboundResult => ({
  ok: false,
  error,
  message,
  mayHaveArrived,
});

/** Why a request failed, and whether the server may have seen it. */
function classify(err: unknown, callerSignal?: AbortSignal): OutboundResult {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e.code ?? e.cause?.code ?? '';
  const message = e.message || String(err);
  if (code === 'EBLOCKED' || e.cause instanceof BlockedAddressError || err instanceof BlockedAddressError) {
    return failure('blocked_address', e.cause?.message ?? message, false);
  }
  if (err instanceof undiciErrors.ConnectTimeoutError) return failure('timeout', 'connecting timed out', false);
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code)) {
    return failure('connect_failed', `${code}: ${message}`, false);
  }
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
    return failure('timeout', 'the server did not answer in time', true);
  }
  if (e.name === 'AbortError' || e.name === 'TimeoutError') {
    const why = callerSignal?.aborted ? 'the request was cancelled by the caller' : 'the request was cut off by its deadline';
    return failure('timeout', why, true);
  }
  return failure('connection_lost', `${code || e.name}: ${message}`, true);
}

function headersOf(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/** The guarded client: one undici agent whose every connection goes through the address policy. */
export class OutboundClient {
  readonly options: OutboundOptions;
  private readonly policy: AddressPolicy;
  private readonly agent: Agent;
  private readonly checked = new Map<string, URL | { error: OutboundError; message: string }>();

  constructor(options: Partial<OutboundOptions> = {}) {
    this.options = { ...defaultOutboundOptions, ...options };
    this.policy = this.options.isAllowedAddress ?? this.options.allowPrivateNetworks;
    this.agent = new Agent({
      connect: { lookup: guardedLookup(this.policy), timeout: this.options.timeoutMs },
      connections: this.options.connectionsPerOrigin,
      keepAliveTimeout: 10_000,
    });
  }

  /** One request, following up to `maxRedirects` redirects (each hop checked again). */
  async request(req: OutboundRequest): Promise<OutboundResult> {
    const timeoutMs = req.timeoutMs ?? this.options.timeoutMs;
    // A caller's signal is its own overall deadline (the dispatcher gives one per batch): combining
    // it with a per-request timer (AbortSignal.any) doubled the client's cost per call. Either way
    // the connect, headers and body timeouts below bound every request.
    const signal = req.signal ?? AbortSignal.timeout(timeoutMs);
    let url = req.url;
    let method = req.method;
    let body = req.body;
    let headers = req.headers ?? {};
    for (let hop = 0; hop <= this.options.maxRedirects; hop++) {
      const target = this.checkUrl(url);
      if (!(target instanceof URL)) return failure(target.error, target.message, false);
      let res: Awaited<ReturnType<typeof request>>;
      try {
        res = await request(target, {
          method,
          headers,
          body: body ?? null,
          dispatcher: this.agent,
          signal,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
      } catch (err) {
        return classify(err, req.signal);
      }
      const location = res.headers.location;
      if (res.statusCode >= 300 && res.statusCode < 400 && typeof location === 'string') {
        try {
          await res.body.dump();
        } catch (err) {
          return classify(err, req.signal);
        }
        let next: URL;
        try {
          next = new URL(location, target);
        } catch {
          return failure('invalid_url', `HTTP ${res.statusCode} to an unreadable location: ${location.slice(0, 200)}`, true);
        }
        // As fetch does: credentials meant for one origin are not handed to another.
        if (next.origin !== target.origin) {
          headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !credentialHeaders.has(k.toLowerCase())));
        }
        url = next.toString();
        // As browsers do: 303 (and 301/302 after a POST) continue as a GET without a body.
        if (res.statusCode === 303 || ((res.statusCode === 301 || res.statusCode === 302) && method !== 'GET')) {
          method = 'GET';
          body = undefined;
        }
        continue;
      }
      const read = await this.readCapped(res.body, res.headers['content-length'], req.signal);
      if (typeof read !== 'string') return read;
      return { ok: true, response: { status: res.statusCode, headers: headersOf(res.headers), body: read, url: target.toString() } };
    }
    return failure('too_many_redirects', `more than ${this.options.maxRedirects} redirects`, true);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /**
   * An http(s) URL whose literal IP host (which skips DNS lookup) is allowed, or why not. Providers
   * call one endpoint thousands of times a second, so the answer for a URL is kept (a few hundred
   * URLs; the policy is fixed for the client's life).
   */
  private checkUrl(raw: string): URL | { error: OutboundError; message: string } {
    let checked = this.checked.get(raw);
    if (checked === undefined) {
      if (this.checked.size >= 256) this.checked.clear();
      checked = this.parseAndCheck(raw);
      this.checked.set(raw, checked);
    }
    return checked;
  }

  private parseAndCheck(raw: string): URL | { error: OutboundError; message: string } {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return { error: 'invalid_url', message: `not a URL: ${raw.slice(0, 200)}` };
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return { error: 'invalid_url', message: `only http and https URLs are allowed, not ${url.protocol}` };
    }
    if (url.username || url.password) return { error: 'invalid_url', message: 'URLs with credentials are not allowed' };
    const blocked = checkLiteralHost(url.hostname, this.policy);
    return blocked === null ? url : { error: 'blocked_address', message: blocked };
  }

  private async readCapped(
    body: AsyncIterable<Buffer> & { destroy(): void; text(): Promise<string> },
    contentLength: string | string[] | undefined,
    callerSignal?: AbortSignal,
  ): Promise<string | OutboundResult> {
    // A declared length within the cap is all undici will read (HTTP/1.1 framing): one read, with
    // none of the per-chunk iteration below, which cost a provider call ~10 µs more.
    const declared = typeof contentLength === 'string' ? Number(contentLength) : Number.NaN;
    if (Number.isSafeInteger(declared) && declared <= this.options.maxResponseBytes) {
      try {
        return await body.text();
      } catch (err) {
        return classify(err, callerSignal);
      }
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of body) {
        size += chunk.length;
        if (size > this.options.maxResponseBytes) {
          body.destroy();
          return failure('response_too_large', `the response is over ${this.options.maxResponseBytes} bytes`, true);
        }
        chunks.push(chunk);
      }
    } catch (err) {
      return classify(err, callerSignal);
    }
    return Buffer.concat(chunks).toString('utf8');
  }
}
