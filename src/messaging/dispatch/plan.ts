import { setImmediate } from 'node:timers/promises';
import { type IdentityType, identityTypes } from '../../core/identities.ts';
import { type Store, writingEvents } from '../../store/index.ts';
import { getMessagingSettings, type MessagingSettings } from '../governance/settings.ts';
import { readsComputed } from '../templates/context.ts';
import { liquidOf, loadRenderBatch, storedTemplates, type TemplateSources } from '../templates/render.ts';
import { defaultRenderLimits } from '../templates/sandbox.ts';
import { addressingIdentities, choose, timeRules } from './choose.ts';
import { claimDue, claimedStatus } from './claim.ts';
import { compose, renderFailure } from './compose.ts';
import type { ConfigCache } from './config-cache.ts';
import { loadPeopleFacts } from './facts.ts';
import { linkSigner } from './link-signer.ts';
import type { Sending } from './outcomes.ts';
import type { ProviderPool } from './provider-pool.ts';
import { insertMessageEvents, type MessageEvent, messageProperties, type RowUpdate, updateRows } from './record.ts';
import type { ClaimedMessage } from './types.ts';

/** Messages planned between two turns of the event loop (~25 ms of rendering and deciding). */
const YIELD_EVERY = 250;

export interface PlanDeps {
  store: Store;
  providers: ProviderPool;
  /** The dispatcher's clock now. */
  now: number;
  batchSize: number;
  leaseMs: number;
  publicUrl: string;
  /** Settings, channels, templates and partials, read once for many batches. */
  config: ConfigCache;
  /** Called before the attempts are written (their deadline starts then): readies the delivery threads the batch needs. */
  beforeAttempts: (sending: readonly Sending[]) => Promise<void>;
}

export interface PlannedBatch {
  claimed: number;
  /** The messages whose attempts are on record, for the provider calls. */
  sending: Sending[];
  /** `performance.now()` when the attempts were written: the batch's calls must end within half a lease of it. */
  recordedAt: number;
}

/**
 * Claims a batch, decides per message (skip, defer, or which channel), composes what goes out and
 * records the attempts — committed before any provider hears of them.
 */
export async function planBatch(d: PlanDeps, workspaceId: number): Promise<PlannedBatch> {
  const { store, now } = d;
  const claimed = await claimDue(store, workspaceId, now, d.batchSize);
  if (claimed.length === 0) return { claimed: 0, sending: [], recordedAt: performance.now() };
  const { config } = d;
  const { settings, linkSecret } = await config.get(`settings:${workspaceId}`, () => getMessagingSettings(store, workspaceId, now));
  const templateNames = [
    ...new Set(
      claimed.flatMap((m) => [
        ...(m.template ? [m.template] : []),
        ...((m.payload.fallback as { template: string }[] | undefined) ?? []).map((f) => f.template),
      ]),
    ),
  ];
  const stored = storedTemplates(store, workspaceId);
  const sources: TemplateSources = {
    template: (name) => config.get(`template:${workspaceId}:${name}`, () => stored.template(name)),
    partials: () => config.get(`partials:${workspaceId}`, () => stored.partials()),
  };
  const liquid = await batchLiquid(templateNames, sources);
  const facts = await loadPeopleFacts(
    store,
    workspaceId,
    claimed.map((m) => m.user_key),
    settings,
    now,
    needsComputed(claimed, settings, liquid),
    neededIdentities(claimed, liquid),
  );
  const render = await loadRenderBatch(store, workspaceId, claimed, templateNames, facts.people, now, defaultRenderLimits, sources);
  const providerOf = await config.get(`channels:${workspaceId}`, () => d.providers.forWorkspace(store, workspaceId));

  const allowedIn = timeRules(settings, now);
  const composeCtx = { render, settings, sign: linkSigner(linkSecret), workspaceId, publicUrl: d.publicUrl };
  const planned: RowUpdate[] = [];
  const events: MessageEvent[] = [];
  const sending: Sending[] = [];
  const budgets = new Map<object, number>();
  for (const [i, m] of claimed.entries()) {
    // Deciding and rendering is synchronous work: let the server answer requests every few hundred messages.
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await setImmediate();
    const choice = choose(m, facts, settings, now, allowedIn);
    if (choice.kind === 'skip') {
      planned.push({ message_key: m.message_key, status: 'skipped', reason: choice.reason });
      continue;
    }
    if (choice.kind === 'defer') {
      planned.push({ message_key: m.message_key, status: 'queued', next_attempt_at: choice.until, reason: `deferred: ${choice.reason}` });
      continue;
    }
    const active = providerOf(choice.option.channel);
    // A rate-limited provider takes no more from one batch than it can send in a quarter of the
    // lease: the rest go back to the queue (no attempt recorded), so no row waits in `sending`
    // long enough for another dispatcher to think its owner died.
    if (active.limiter) {
      const budget = Math.max(1, Math.floor((active.limiter.ratePerSecond * d.leaseMs) / 4000));
      const used = budgets.get(active) ?? 0;
      if (used >= budget) {
        planned.push({ message_key: m.message_key, status: 'queued', next_attempt_at: null, reason: null });
        continue;
      }
      budgets.set(active, used + 1);
    }
    let composed: Awaited<ReturnType<typeof compose>>;
    try {
      composed = await compose(m, choice.option, composeCtx);
    } catch (err) {
      const reason = renderFailure(err);
      planned.push({ message_key: m.message_key, status: 'failed', reason });
      events.push({
        name: 'Message Failed',
        id: `msg.${m.message_key}.failed.${choice.option.channel}`,
        userKey: m.user_key,
        properties: { ...messageProperties(m, choice.option, active.provider.name), reason },
      });
      continue;
    }
    // Later messages of this batch count this one against the person's caps.
    if (!m.transactional) facts.sent.set(m.user_key, [...(facts.sent.get(m.user_key) ?? []), { channel: choice.option.channel, at: now }]);
    const attempt = m.attempts + 1;
    planned.push({
      message_key: m.message_key,
      status: 'sending',
      attempts: attempt,
      next_attempt_at: null,
      channel: choice.option.channel,
      template: choice.option.template,
      // The payload is rewritten only when it names fallbacks or a preferred channel (the next
      // attempt must keep to the channel chosen now); otherwise it is left as it is rather than
      // sent back to the database unchanged with every attempt.
      ...(hasChannelChoice(m) ? { payload: { ...m.payload, fallback: choice.remaining, preferred_channel: false } } : {}),
      provider: active.provider.name,
      address: choice.address,
      content: composed.content,
      reason: null,
      sent_at: now,
    });
    sending.push({ m, option: choice.option, remaining: choice.remaining, active, attempt, address: choice.address, composed });
  }
  await d.beforeAttempts(sending);
  // The attempt is on record before any provider hears of it.
  const recordedAt = performance.now();
  await writingEvents(store, workspaceId, now, async (tx) => {
    const moved = await updateRows(tx, store.dialect, workspaceId, now, planned, claimedStatus(store.dialect));
    // A planner that raced this one took some of the rows (DuckDB marks no claim; on PostgreSQL a
    // claim whose lease ran out was recovered): nothing of this batch goes out, and the next tick
    // plans again whatever is still due.
    if (moved !== planned.length) {
      throw new Error(
        `${planned.length - moved} of the ${planned.length} outbox rows of a batch changed while it was planned (another dispatcher took them); the batch was not sent`,
      );
    }
    await insertMessageEvents(tx, store.dialect, workspaceId, now, events);
  });
  return { claimed: claimed.length, sending, recordedAt };
}

/** True when the message's payload lets a later attempt choose another channel (fallbacks, the person's preferred one). */
function hasChannelChoice(m: ClaimedMessage): boolean {
  const fallback = m.payload.fallback;
  return (Array.isArray(fallback) && fallback.length > 0) || m.payload.preferred_channel === true;
}

/** The Liquid of the batch's templates (their fallbacks' too) and of the workspace's partials. */
async function batchLiquid(templateNames: readonly string[], sources: TemplateSources): Promise<string[]> {
  const [templates, partials] = await Promise.all([Promise.all(templateNames.map((n) => sources.template(n))), sources.partials()]);
  return liquidOf(
    templates.flatMap((t) => (t ? [t] : [])),
    partials,
  );
}

/**
 * Whether the batch needs people's computed traits and predictions (two of the five people
 * queries): a preferred channel or a send-time choice reads them, and so may a template or partial.
 */
function needsComputed(claimed: readonly ClaimedMessage[], settings: MessagingSettings, liquid: readonly string[]): boolean {
  return Boolean(settings.sendTime) || claimed.some((m) => m.payload.preferred_channel === true) || readsComputed(liquid);
}

/**
 * The identity types the batch uses: its channels' addresses, and those its Liquid names (as for
 * computed traits, a template can only read `person.email` by writing the word).
 */
function neededIdentities(claimed: readonly ClaimedMessage[], liquid: readonly string[]): Set<IdentityType> {
  const types = addressingIdentities(claimed);
  for (const type of identityTypes) if (liquid.some((source) => source.includes(type))) types.add(type);
  return types;
}
