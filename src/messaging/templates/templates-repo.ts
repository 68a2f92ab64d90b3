import { AppError, type ErrorBody } from '../../core/errors.ts';
import { definitionsInUse, messagesOf } from '../../journeys/index.ts';
import type { SqlExecutor, Store } from '../../store/index.ts';
import { compileMjml } from './mjml.ts';
import { checkSyntax, defaultRenderLimits } from './sandbox.ts';
import { type PartialDefinition, type TemplateDefinition, templateFields } from './schema.ts';

/** Templates and partials of a workspace, stored as validated definitions (`templates`, `template_partials`). */

export type StoredTemplate = TemplateDefinition & { createdAt: number; updatedAt: number };
export type StoredPartial = PartialDefinition & { createdAt: number; updatedAt: number };

type TemplateRow = { definition: TemplateDefinition | string; created_at: number; updated_at: number };
type PartialRow = { name: string; source: string; created_at: number; updated_at: number };

const toTemplate = (r: TemplateRow): StoredTemplate => ({
  ...(typeof r.definition === 'string' ? (JSON.parse(r.definition) as TemplateDefinition) : r.definition),
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});
const toPartial = (r: PartialRow): StoredPartial => ({
  name: r.name,
  source: r.source,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

/**
 * Partial names a source refers to literally (`{% render 'x' %}`, `{% include "x" %}`). A name
 * taken from a variable cannot be known before rendering; a missing one fails then, by name.
 */
export function referencedPartials(source: string): string[] {
  const names = new Set<string>();
  for (const m of source.matchAll(/\{%-?\s*(?:render|include)\s+(['"])([^'"]+)\1/g)) names.add(m[2]!);
  return [...names];
}

async function partialNames(db: SqlExecutor, workspaceId: number): Promise<Set<string>> {
  const rows = await db.query<{ name: string }>('SELECT name FROM template_partials WHERE workspace_id = $1', [workspaceId]);
  return new Set(rows.map((r) => r.name));
}

/** Every problem of a set of Liquid sources at once: syntax (with line and column) and partials that do not exist. */
async function checkSources(
  db: SqlExecutor,
  workspaceId: number,
  sources: readonly { path: string; source: string }[],
  alsoExists: string | null,
): Promise<void> {
  const problems: ErrorBody[] = sources.flatMap((s) => checkSyntax(s.path, s.source, defaultRenderLimits));
  const known = await partialNames(db, workspaceId);
  if (alsoExists) known.add(alsoExists);
  for (const s of sources) {
    for (const name of referencedPartials(s.source)) {
      if (!known.has(name)) problems.push({ code: 'invalid_request', message: `no partial named "${name}"`, path: s.path });
    }
  }
  if (problems.length > 0) throw new AppError('invalid_request', problems[0]!.message, problems[0]!.path, problems);
}

export async function getTemplate(db: SqlExecutor, workspaceId: number, name: string): Promise<StoredTemplate | null> {
  const [row] = await db.query<TemplateRow>(
    'SELECT definition, created_at, updated_at FROM templates WHERE workspace_id = $1 AND name = $2',
    [workspaceId, name],
  );
  return row ? toTemplate(row) : null;
}

export async function requireTemplate(db: SqlExecutor, workspaceId: number, name: string, path = 'name'): Promise<StoredTemplate> {
  const t = await getTemplate(db, workspaceId, name);
  if (!t) throw new AppError('not_found', `no template named "${name}"`, path);
  return t;
}

export async function listTemplates(db: SqlExecutor, workspaceId: number, channel?: string): Promise<StoredTemplate[]> {
  const rows = channel
    ? await db.query<TemplateRow>(
        'SELECT definition, created_at, updated_at FROM templates WHERE workspace_id = $1 AND channel = $2 ORDER BY name',
        [workspaceId, channel],
      )
    : await db.query<TemplateRow>('SELECT definition, created_at, updated_at FROM templates WHERE workspace_id = $1 ORDER BY name', [
        workspaceId,
      ]);
  return rows.map(toTemplate);
}

/** An email written in MJML gets its `html` compiled from it (a problem is a 400 naming the line). */
function compiled(t: TemplateDefinition): TemplateDefinition {
  if (t.channel !== 'email' || t.fields.mjml === undefined) return t;
  const out = compileMjml(t.fields.mjml);
  if (!out.ok) {
    const problems = out.problems.map((p) => ({
      code: 'invalid_request' as const,
      message: `line ${p.line}: ${p.message}`,
      path: 'fields.mjml',
    }));
    throw new AppError('invalid_request', (problems[0] as ErrorBody).message, 'fields.mjml', problems);
  }
  return { ...t, fields: { ...t.fields, html: out.html } };
}

export async function createTemplate(store: Store, workspaceId: number, given: TemplateDefinition, now: number): Promise<StoredTemplate> {
  const t = compiled(given);
  await checkSources(store, workspaceId, templateFields(t), null);
  // The primary key settles a race between two creates; the loser gets the same 409 as a late one.
  const inserted = await store.query(
    `INSERT INTO templates (workspace_id, name, channel, definition, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
     ON CONFLICT (workspace_id, name) DO NOTHING RETURNING name`,
    [workspaceId, t.name, t.channel, JSON.stringify(t), now],
  );
  if (inserted.length === 0) throw new AppError('conflict', `a template named "${t.name}" already exists`, 'name');
  return { ...t, createdAt: now, updatedAt: now };
}

/** Replaces a template's channel, description and fields; the name (what journeys refer to) cannot change. */
export async function updateTemplate(store: Store, workspaceId: number, given: TemplateDefinition, now: number): Promise<StoredTemplate> {
  const t = compiled(given);
  const current = await requireTemplate(store, workspaceId, t.name);
  await checkSources(store, workspaceId, templateFields(t), null);
  if (t.channel !== current.channel) {
    // A journey sending it on its old channel would fail every message (the sandbox takes any).
    const users = await journeysSending(store, workspaceId, t.name, (channel) => channel !== 'sandbox' && channel !== t.channel);
    if (users.length > 0) {
      throw new AppError(
        'conflict',
        `template "${t.name}" is sent on ${current.channel} by journey ${names(users)}: its channel cannot change`,
        'channel',
      );
    }
  }
  await store.query('UPDATE templates SET channel = $3, definition = $4, updated_at = $5 WHERE workspace_id = $1 AND name = $2', [
    workspaceId,
    t.name,
    t.channel,
    JSON.stringify(t),
    now,
  ]);
  return { ...t, createdAt: current.createdAt, updatedAt: now };
}

/** Refused (409) while a journey that is not archived sends with the template: its messages could not render. */
export async function deleteTemplate(store: Store, workspaceId: number, name: string): Promise<void> {
  await requireTemplate(store, workspaceId, name);
  const users = await journeysSending(store, workspaceId, name, () => true);
  if (users.length > 0) throw new AppError('conflict', `template "${name}" is used by journey ${names(users)}`, 'name');
  await store.query('DELETE FROM templates WHERE workspace_id = $1 AND name = $2', [workspaceId, name]);
}

/** The journeys, archived ones aside, that send with template `name` on a channel `on` accepts (also as a fallback) in a definition in use. */
async function journeysSending(store: Store, workspaceId: number, name: string, on: (channel: string) => boolean) {
  return (await definitionsInUse(store, workspaceId))
    .filter(({ definitions }) =>
      definitions.some((d) => d.nodes.some((n) => messagesOf(n).some((m) => m.template === name && on(m.channel)))),
    )
    .map(({ journey }) => journey);
}

const names = (journeys: { name: string }[]) => journeys.map((j) => `"${j.name}"`).join(', ');

export async function listPartials(db: SqlExecutor, workspaceId: number): Promise<StoredPartial[]> {
  const rows = await db.query<PartialRow>(
    'SELECT name, source, created_at, updated_at FROM template_partials WHERE workspace_id = $1 ORDER BY name',
    [workspaceId],
  );
  return rows.map(toPartial);
}

export async function requirePartial(db: SqlExecutor, workspaceId: number, name: string): Promise<StoredPartial> {
  const [row] = await db.query<PartialRow>(
    'SELECT name, source, created_at, updated_at FROM template_partials WHERE workspace_id = $1 AND name = $2',
    [workspaceId, name],
  );
  if (!row) throw new AppError('not_found', `no partial named "${name}"`, 'name');
  return toPartial(row);
}

/** A partial may render itself (a recursive snippet with a base case); the sandbox bounds the nesting. */
export async function createPartial(store: Store, workspaceId: number, p: PartialDefinition, now: number): Promise<StoredPartial> {
  await checkSources(store, workspaceId, [{ path: 'source', source: p.source }], p.name);
  const inserted = await store.query(
    `INSERT INTO template_partials (workspace_id, name, source, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
     ON CONFLICT (workspace_id, name) DO NOTHING RETURNING name`,
    [workspaceId, p.name, p.source, now],
  );
  if (inserted.length === 0) throw new AppError('conflict', `a partial named "${p.name}" already exists`, 'name');
  return { ...p, createdAt: now, updatedAt: now };
}

export async function updatePartial(store: Store, workspaceId: number, p: PartialDefinition, now: number): Promise<StoredPartial> {
  const current = await requirePartial(store, workspaceId, p.name);
  await checkSources(store, workspaceId, [{ path: 'source', source: p.source }], p.name);
  await store.query('UPDATE template_partials SET source = $3, updated_at = $4 WHERE workspace_id = $1 AND name = $2', [
    workspaceId,
    p.name,
    p.source,
    now,
  ]);
  return { ...p, createdAt: current.createdAt, updatedAt: now };
}

/** Refused (409) while a template or another partial refers to it by name. */
export async function deletePartial(store: Store, workspaceId: number, name: string): Promise<void> {
  await requirePartial(store, workspaceId, name);
  const templates = (await listTemplates(store, workspaceId))
    .filter((t) => templateFields(t).some((f) => referencedPartials(f.source).includes(name)))
    .map((t) => `template "${t.name}"`);
  const partials = (await listPartials(store, workspaceId))
    .filter((p) => p.name !== name && referencedPartials(p.source).includes(name))
    .map((p) => `partial "${p.name}"`);
  const users = [...templates, ...partials];
  if (users.length > 0) throw new AppError('conflict', `partial "${name}" is used by ${users.join(', ')}`, 'name');
  await store.query('DELETE FROM template_partials WHERE workspace_id = $1 AND name = $2', [workspaceId, name]);
}
