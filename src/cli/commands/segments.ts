import { createWriteStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { AppError } from '../../core/errors.ts';
import { printTable } from '../../core/text-table.ts';
import { ApiClient, type ServerFlags, serverOptions } from '../api-client.ts';
import { wholeNumberFlag } from '../flags.ts';
import { printJson } from '../json-io.ts';

interface DefinitionFlags extends ServerFlags {
  file?: string;
  definition?: string;
  json?: boolean;
}

/** A definition from --file (JSON file, "-" = stdin) or --definition (inline JSON). */
function readDefinition(flags: DefinitionFlags): unknown {
  const text = flags.definition ?? (flags.file ? readFileSync(flags.file === '-' ? 0 : flags.file, 'utf8') : undefined);
  if (text === undefined) throw new AppError('invalid_request', 'give the definition with --file <path> or --definition <json>', 'file');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new AppError('invalid_json', `the definition is not JSON: ${(err as Error).message}`, 'file');
  }
}

interface SegmentSummary {
  segmentId: number;
  name: string;
  memberCount: number;
  refresh: { mode: string; cron?: string };
  refreshedAt: number | null;
}

const summaryRow = (s: SegmentSummary) => ({
  id: s.segmentId,
  name: s.name,
  members: s.memberCount,
  refresh: s.refresh.mode === 'scheduled' ? `cron ${s.refresh.cron}` : s.refresh.mode,
  refreshed: s.refreshedAt ? new Date(s.refreshedAt).toISOString() : '',
});

export function registerSegments(program: Command) {
  const segments = program.command('segments').description('Audiences: estimate, save, list, export (through the running server)');

  serverOptions(segments.command('list').description('List segments with their sizes'))
    .option('--json', 'print JSON')
    .action(async (flags: DefinitionFlags) => {
      const { segments: list } = await new ApiClient(flags).call<{ segments: SegmentSummary[] }>('GET', '/api/segments');
      if (flags.json) printJson(list);
      else printTable(list.map(summaryRow));
    });

  serverOptions(segments.command('estimate').description('Size and a sample of a draft definition (nothing is saved)'))
    .option('--file <path>', 'definition JSON file ("-" for stdin)')
    .option('--definition <json>', 'definition as inline JSON')
    .option('--json', 'print JSON')
    .action(async (flags: DefinitionFlags) => {
      const e = await new ApiClient(flags).call<{
        size: number;
        tookMs: number;
        sample: { userId: string | null; email: string | null }[];
      }>('POST', '/api/segments/estimate', { definition: readDefinition(flags) });
      if (flags.json) printJson(e);
      else {
        console.log(`${e.size} people (${e.tookMs} ms). Sample:`);
        printTable(e.sample.map((p) => ({ userId: p.userId, email: p.email })));
      }
    });

  serverOptions(segments.command('create').description('Save a segment and evaluate it'))
    .requiredOption('--name <name>', 'segment name')
    .option('--file <path>', 'definition JSON file ("-" for stdin)')
    .option('--definition <json>', 'definition as inline JSON')
    .option('--cron <expr>', 'refresh on this schedule (e.g. "0 9 * * 1") instead of in real time')
    .option('--timezone <tz>', 'time zone of --cron', 'UTC')
    .option('--manual', 'refresh only when asked')
    .action(async (flags: DefinitionFlags & { name: string; cron?: string; timezone: string; manual?: boolean }) => {
      const refresh = flags.cron
        ? { mode: 'scheduled', cron: flags.cron, timezone: flags.timezone }
        : { mode: flags.manual ? 'manual' : 'realtime' };
      const s = await new ApiClient(flags).call<SegmentSummary>('POST', '/api/segments', {
        name: flags.name,
        definition: readDefinition(flags),
        refresh,
      });
      console.log(`segment ${s.segmentId} "${s.name}": ${s.memberCount} members`);
    });

  serverOptions(segments.command('refresh <id>').description('Re-evaluate a segment now')).action(
    async (id: string, flags: ServerFlags) => {
      const r = await new ApiClient(flags).call<{ size: number; entered: number; exited: number; tookMs: number }>(
        'POST',
        `/api/segments/${encodeURIComponent(id)}/refresh`,
      );
      console.log(`${r.size} members (+${r.entered} / -${r.exited}) in ${Math.round(r.tookMs)} ms`);
    },
  );

  serverOptions(segments.command('members <id>').description('List members (user id, email, phone)'))
    .option('--limit <n>', 'how many', '100')
    .action(async (id: string, flags: ServerFlags & { limit: string }) => {
      const page = await new ApiClient(flags).call<{
        members: { userKey: number; userId: string | null; email: string | null; phone: string | null }[];
      }>('GET', `/api/segments/${encodeURIComponent(id)}/members?limit=${encodeURIComponent(flags.limit)}`);
      printTable(page.members.map((m) => ({ key: m.userKey, userId: m.userId, email: m.email, phone: m.phone })));
    });

  serverOptions(segments.command('export <id>').description('Export members as CSV, or as a DMP audience with hashed identifiers only'))
    .option('--format <format>', 'csv or dmp', 'csv')
    .option('--traits <names>', 'comma-separated traits to add as CSV columns')
    .requiredOption('--out <file>', 'file to write')
    .action(async (id: string, flags: ServerFlags & { format: string; traits?: string; out: string }) => {
      const query = new URLSearchParams({ format: flags.format, ...(flags.traits ? { traits: flags.traits } : {}) });
      const res = await new ApiClient(flags).raw('GET', `/api/segments/${encodeURIComponent(id)}/export?${query}`);
      if (!res.ok || !res.body) throw new AppError('invalid_request', `server said ${res.status}: ${await res.text()}`);
      await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), createWriteStream(flags.out));
      console.log(`wrote ${flags.out}`);
    });

  serverOptions(segments.command('lookalike <seedId>').description('Save the people most similar to a seed segment as a new segment'))
    .requiredOption('--name <name>', 'name of the new segment')
    .option('--size <n>', 'how many people', '1000')
    .action(async (seedId: string, flags: ServerFlags & { name: string; size: string }) => {
      const s = await new ApiClient(flags).call<SegmentSummary>('POST', '/api/segments/lookalike', {
        seedSegmentId: Number(seedId),
        name: flags.name,
        size: wholeNumberFlag(flags.size, '--size', 1),
      });
      console.log(`segment ${s.segmentId} "${s.name}": ${s.memberCount} members`);
    });
}
