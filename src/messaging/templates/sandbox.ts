import { type Context, type Emitter, type FS, IncludeTag, Liquid, type LiquidOptions, RenderTag, type Template, toValue } from 'liquidjs';
import { AppError, type ErrorBody } from '../../core/errors.ts';
import type { FieldEscape } from './schema.ts';

/**
 * The Liquid sandbox. Templates are written by workspace operators and rendered in the server
 * process, so a template must not read anything but the context it is given, nor stall the
 * process or exhaust its memory. What liquidjs offers, and what is added here:
 * - `ownPropertyOnly`: no prototype walk (`{{ x.constructor }}` renders nothing), filters included;
 * - `strictFilters`: an unknown filter is a syntax error at save time, not a silent no-op;
 * - `renderLimit` (wall time of one render, checked between nodes) and `memoryLimit` (ranges,
 *   arrays and strings that filters build), both per render;
 * - added: every string written to an output (including `{% capture %}` buffers, which liquidjs
 *   does not meter) is charged to the memory limit and capped per buffer, so `{% for %}` over a
 *   large literal or a doubling `capture` fails fast instead of building hundreds of megabytes;
 * - added: the parse limit is counted per render (the field and every partial it parses);
 *   liquidjs counts partials per engine for the engine's whole life, which would not do for
 *   engines shared by every render;
 * - added: partials come from the workspace's stored partials only (a file system of our own, no
 *   disk) and nest at most `partialDepth` deep, so a partial that renders itself fails with a
 *   clear message rather than a stack overflow;
 * - `layout`/`block` are refused: they need files, and `block.super` renders outside the meter.
 *
 * Rendering is CPU work either way (liquidjs's async mode yields only microtasks, never to I/O),
 * so fields render synchronously: the render limit is the longest a hostile template can hold the
 * event loop, per message.
 *
 * Engines are built once per escape mode (building one costs ~0.1 ms, more than a render), so
 * what belongs to one render — its partials, nesting depth, characters parsed — is kept in
 * `active` while it runs, where the file system, the partial cache and the tags read it. A
 * synchronous render cannot interleave with another, so one slot is enough.
 */
export interface RenderLimits {
  /** Characters of Liquid parsed per field, partials included. */
  parseChars: number;
  /** Wall time for all the fields of one message, in ms. */
  renderMs: number;
  /** liquidjs memory units per field: one per range/array element or string character built. */
  memory: number;
  /** Characters of one rendered field (and of any one `capture` buffer). */
  outputChars: number;
  /** How deep `render`/`include` may nest. */
  partialDepth: number;
}

export const defaultRenderLimits: RenderLimits = {
  parseChars: 300_000,
  renderMs: 250,
  memory: 5_000_000,
  outputChars: 1_000_000,
  partialDepth: 10,
};

/** An error raised by our own guards (not by liquidjs), already worded for the operator. */
class SandboxError extends Error {
  override name = 'SandboxError';
}

interface RenderState {
  partials: ReadonlyMap<string, string>;
  limits: RenderLimits;
  depth: number;
  parsedChars: number;
}

let active: RenderState | null = null;

function current(): RenderState {
  if (!active) throw new SandboxError('partials are only available while rendering');
  return active;
}

/** Runs `fn` (synchronous: nothing else runs meanwhile) with `state` as the active render. */
function withState<T>(state: RenderState, fn: () => T): T {
  active = state;
  try {
    return fn();
  } finally {
    active = null;
  }
}

function chargeParse(state: RenderState, chars: number): void {
  state.parsedChars += chars;
  if (state.parsedChars > state.limits.parseChars) {
    throw new SandboxError(`the template with its partials is over ${state.limits.parseChars} characters`);
  }
}

/** Partials by name, nothing else: no paths, no disk. */
const partialsFs: FS = {
  sep: '/',
  resolve: (_dir, name) => name,
  exists: async (name) => current().partials.has(name),
  existsSync: (name) => current().partials.has(name),
  readFile: async (name) => readPartial(name),
  readFileSync: (name) => readPartial(name),
  contains: async () => true,
  containsSync: () => true,
  dirname: () => '',
};

function readPartial(name: string): string {
  const state = current();
  const source = state.partials.get(name);
  if (source === undefined) throw new SandboxError(`no partial named "${name}"`);
  chargeParse(state, source.length);
  return source;
}

/** A Map that forgets its least recently used entries beyond `max`. */
class Bounded<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}

  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: string, v: V): void {
    this.map.delete(key);
    if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, v);
  }

  delete(key: string): void {
    this.map.delete(key);
  }
}

/** liquidjs's cache interface (not exported by name). */
type LiquidCache = Extract<NonNullable<LiquidOptions['cache']>, object>;

/**
 * liquidjs caches parsed partials under their name (`partials:footer`), but engines are shared by
 * every workspace and partials change: the key used here adds the source itself, so two
 * workspaces' `footer` never mix and an edited partial is parsed afresh.
 */
class PartialCache implements LiquidCache {
  private readonly entries = new Bounded<Template[]>(1000);

  private key(key: string): string | null {
    const source = active?.partials.get(key.slice(key.indexOf(':') + 1));
    return source === undefined ? null : `${key}\u0000${source}`;
  }

  read(key: string) {
    const k = this.key(key);
    return k === null ? undefined : this.entries.get(k);
  }

  write(key: string, value: Template[] | Promise<Template[]>) {
    const k = this.key(key);
    // Renders are synchronous, so liquidjs hands over parsed templates, never a pending parse.
    if (k !== null && Array.isArray(value)) this.entries.set(k, value);
  }

  remove(key: string) {
    const k = this.key(key);
    if (k !== null) this.entries.delete(k);
  }
}

/** As liquidjs writes a value (its own helper is not exported): lists concatenated, nil empty. */
function stringify(value: unknown): string {
  const v: unknown = toValue(value);
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.map(stringify).join('');
  return String(v);
}

/** Writes into a string, charging every character to the render's memory limit. */
class MeteredEmitter implements Emitter {
  buffer = '';
  constructor(
    private readonly ctx: Context,
    private readonly maxChars: number,
  ) {}

  write(html: unknown): void {
    const s = stringify(html);
    if (s.length === 0) return;
    if (this.buffer.length + s.length > this.maxChars) throw new SandboxError(`output is over the limit of ${this.maxChars} characters`);
    this.ctx.memoryLimit.use(s.length);
    this.buffer += s;
  }
}

function refused(name: string) {
  return {
    parse() {
      throw new SandboxError(`{% ${name} %} is not available in templates; use {% render 'partial' %}`);
    },
    render() {},
  };
}

/** `render`/`include`, counting how deep they are nested in the current render. */
function depthLimited<T extends typeof RenderTag | typeof IncludeTag>(Base: T): T {
  const Limited = class extends (Base as typeof RenderTag) {
    override *render(ctx: Context, emitter: Emitter): Generator<unknown, void, unknown> {
      const state = current();
      if (state.depth >= state.limits.partialDepth) {
        throw new SandboxError(`partials are nested more than ${state.limits.partialDepth} deep (does a partial render itself?)`);
      }
      state.depth++;
      try {
        yield* super.render(ctx, emitter);
      } finally {
        state.depth--;
      }
    }
  };
  return Limited as unknown as T;
}

function buildEngine(mode: FieldEscape): Liquid {
  const liquid = new Liquid({
    ownPropertyOnly: true,
    strictFilters: true,
    strictVariables: false,
    outputEscape: mode === 'html' ? 'escape' : mode === 'json' ? 'json' : undefined,
    fs: partialsFs,
    root: [''],
    partials: [''],
    layouts: [''],
    relativeReference: false,
    extname: '',
    cache: new PartialCache(),
    // Counted per render by chargeParse instead (see above).
    parseLimit: Number.POSITIVE_INFINITY,
    // Dates render in UTC unless a template names a zone (`| date: "%H:%M", "Asia/Shanghai"`), whatever the server's zone.
    timezoneOffset: 0,
  });
  liquid.registerTag('render', depthLimited(RenderTag));
  liquid.registerTag('include', depthLimited(IncludeTag));
  liquid.registerTag('layout', refused('layout'));
  liquid.registerTag('block', refused('block'));
  // Every buffer liquidjs creates without being handed one (the top level, `capture`) is metered.
  const renderer = liquid.renderer;
  const renderTemplates = renderer.renderTemplates.bind(renderer);
  renderer.renderTemplates = (templates: Template[], ctx: Context, emitter?: Emitter) =>
    renderTemplates(templates, ctx, emitter ?? new MeteredEmitter(ctx, active?.limits.outputChars ?? 0));
  return liquid;
}

const engines = new Map<FieldEscape, Liquid>();
function engine(mode: FieldEscape): Liquid {
  let liquid = engines.get(mode);
  if (!liquid) {
    liquid = buildEngine(mode);
    engines.set(mode, liquid);
  }
  return liquid;
}

/**
 * Parsed fields by escape mode and source: the dispatcher renders the same few templates many
 * times. Keyed by the source string itself (not a key built from it), so a lookup reuses the
 * string's cached hash instead of concatenating and hashing a whole template per render.
 */
const parsed = new Map<FieldEscape, Bounded<Template[]>>();

function parseField(mode: FieldEscape, source: string, state: RenderState): Template[] {
  chargeParse(state, source.length);
  let cache = parsed.get(mode);
  if (!cache) {
    cache = new Bounded<Template[]>(1000);
    parsed.set(mode, cache);
  }
  const hit = cache.get(source);
  if (hit) return hit;
  const templates = engine(mode).parse(source);
  cache.set(source, templates);
  return templates;
}

/** Turns a liquidjs or sandbox error into an operator-facing message (no stack; line and column spelled out). */
export function describeLiquidError(err: unknown, limits: RenderLimits): string {
  let root: unknown = err;
  // liquidjs wraps an error once per enclosing tag; the innermost one says what happened.
  while (root && typeof root === 'object' && 'originalError' in root && (root as { originalError?: unknown }).originalError) {
    root = (root as { originalError: unknown }).originalError;
  }
  const rootMessage = root instanceof Error ? root.message : String(root);
  const where = position(err);
  const what = wording(stripPosition(rootMessage), limits);
  return where ? `${what} (${where})` : what;
}

function position(err: unknown): string {
  const token = (err as { token?: { getPosition?: () => [number, number]; file?: string } } | null)?.token;
  if (!token?.getPosition) return '';
  const [line, col] = token.getPosition();
  // liquidjs names the partial a failing token is in; the field itself has no file.
  return token.file ? `partial "${token.file}", line ${line}, column ${col}` : `line ${line}, column ${col}`;
}

function stripPosition(message: string): string {
  return message.replace(/(, file:[^,]*)?, line:\d+, col:\d+/g, '');
}

function wording(message: string, limits: RenderLimits): string {
  if (message.startsWith('memory alloc limit exceeded') || /Invalid string length|Invalid array length/.test(message)) {
    return 'the template builds too much data (sandbox memory limit)';
  }
  if (message.startsWith('template render limit exceeded')) return `the template took longer than ${limits.renderMs} ms to render`;
  if (/Maximum call stack/.test(message)) return 'the template nests too deeply';
  const missing = /^ENOENT: Failed to lookup "([^"]*)"/.exec(message);
  if (missing) return `no partial named "${missing[1]}"`;
  return message;
}

/** Liquid syntax problems of one field, each with its path (empty when it parses). */
export function checkSyntax(path: string, source: string, limits: RenderLimits = defaultRenderLimits): ErrorBody[] {
  const state: RenderState = { partials: new Map(), limits, depth: 0, parsedChars: 0 };
  try {
    withState(state, () => parseField('none', source, state));
    return [];
  } catch (err) {
    return [{ code: 'invalid_request', message: describeLiquidError(err, limits), path }];
  }
}

/**
 * Renders one field. Failures (syntax, limits, missing partials) become `invalid_request` with the
 * field's path, so an API caller or the dispatcher can say exactly which part of which template
 * is broken. `deadline` (a `performance.now()` instant) is shared by the fields of one message.
 */
export function renderField(
  field: { path: string; source: string; escape: FieldEscape },
  context: Record<string, unknown>,
  partials: ReadonlyMap<string, string>,
  limits: RenderLimits,
  deadline: number,
): string {
  const state: RenderState = { partials, limits, depth: 0, parsedChars: 0 };
  try {
    return withState(state, () => {
      const templates = parseField(field.escape, field.source, state);
      const out: unknown = engine(field.escape).renderSync(templates, context, {
        renderLimit: Math.max(1, deadline - performance.now()),
        memoryLimit: limits.memory,
      });
      return String(out);
    });
  } catch (err) {
    throw new AppError('invalid_request', describeLiquidError(err, limits), field.path);
  }
}
