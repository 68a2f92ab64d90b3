import { listCampaigns } from '../commerce/coupons/index.ts';
import { AppError, type ErrorBody } from '../core/errors.ts';
import { checkReferences, referencedSegments, requireSegment } from '../segments/index.ts';
import type { SqlExecutor } from '../store/index.ts';
import type { JourneyDefinition, JourneyNode } from './definition.ts';

/**
 * What a definition names outside itself, checked when it is published: segments (a segment or
 * schedule entry, audience conditions, the `segment` recommendation strategy), message templates
 * (send nodes and their fallbacks, recommend nodes) and coupon campaigns. A journey naming
 * something missing would otherwise run and fail person by person — messages `failed` at
 * dispatch, coupons `skipped` — so publishing refuses it and names every such problem at once.
 */
export async function referenceProblems(db: SqlExecutor, workspaceId: number, def: JourneyDefinition): Promise<ErrorBody[]> {
  const problems: ErrorBody[] = [];
  const problem = (message: string, path: string) => problems.push({ code: 'invalid_request', message, path });
  const templates = await templateChannels(db, workspaceId);
  const campaigns = new Set((await listCampaigns(db, workspaceId)).map((c) => c.name));
  for (const [i, n] of def.nodes.entries()) {
    const at = `definition.nodes[${i}]`;
    for (const m of messagesOf(n)) {
      const channel = templates.get(m.template);
      if (channel === undefined) problem(`no template "${m.template}"`, `${at}.${m.path}template`);
      // As the dispatcher renders: the sandbox takes any template, a channel only its own.
      else if (m.channel !== 'sandbox' && channel !== m.channel) {
        problem(`template "${m.template}" is for ${channel}, the node sends ${m.channel}`, `${at}.${m.path}channel`);
      }
    }
    if (n.type === 'coupon' && !campaigns.has(n.campaign) && n.value === undefined && !n.tiers?.length) {
      problem(`no coupon campaign "${n.campaign}", and the node has no value or tiers to make one from`, `${at}.campaign`);
    }
    for (const err of await segmentProblems(db, workspaceId, n)) problem(err.message, at);
  }
  return problems;
}

/** The (channel, template) pairs a node sends with, and where each sits in the node (path prefix). */
export function messagesOf(n: JourneyNode): { channel: string; template: string; path: string }[] {
  if (n.type === 'send') {
    return [
      { channel: n.channel, template: n.template, path: '' },
      ...n.fallback.map((f, k) => ({ channel: f.channel, template: f.template, path: `fallback[${k}].` })),
    ];
  }
  if (n.type === 'recommend') return [{ channel: n.channel, template: n.template, path: '' }];
  return [];
}

/** Template name → its channel. Read here rather than through messaging, which reads journeys (deleting a template in use). */
async function templateChannels(db: SqlExecutor, workspaceId: number): Promise<Map<string, string>> {
  const rows = await db.query<{ name: string; channel: string }>('SELECT name, channel FROM templates WHERE workspace_id = $1', [
    workspaceId,
  ]);
  return new Map(rows.map((r) => [r.name, r.channel]));
}

/** The segments a node reads: its entry's audience, a `segment` recommendation's, those its audience conditions name. */
export function segmentsRead(n: JourneyNode): number[] {
  const ids: number[] = [];
  if (n.type === 'entry' && (n.trigger.kind === 'segment' || n.trigger.kind === 'schedule') && n.trigger.segmentId) {
    ids.push(n.trigger.segmentId);
  }
  if (n.type === 'recommend' && n.strategy === 'segment' && n.segmentId !== undefined) ids.push(n.segmentId);
  if (n.type === 'condition') {
    for (const c of n.cases) if (c.when.kind === 'audience') ids.push(...referencedSegments(c.when.definition).map((r) => r.segmentId));
  }
  return [...new Set(ids)];
}

/** The segments a node reads that are missing or archived, and audience conditions with bad references. */
async function segmentProblems(db: SqlExecutor, workspaceId: number, n: JourneyNode): Promise<AppError[]> {
  const problems: AppError[] = [];
  if (n.type === 'condition') {
    for (const c of n.cases) {
      if (c.when.kind !== 'audience') continue;
      const audience = c.when.definition;
      await collect(problems, () => checkReferences(db, workspaceId, audience, null));
    }
  }
  for (const id of segmentsRead(n)) {
    await collect(problems, async () => {
      const s = await requireSegment(db, workspaceId, id);
      if (s.status === 'archived') throw new AppError('conflict', `segment ${id} is archived`);
    });
  }
  return problems;
}

async function collect(problems: AppError[], check: () => Promise<unknown>): Promise<void> {
  try {
    await check();
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    problems.push(err);
  }
}
