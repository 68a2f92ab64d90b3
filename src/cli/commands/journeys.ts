import type { Command } from 'commander';
import { AppError, type ErrorBody } from '../../core/errors.ts';
import { bar } from '../../core/text-chart.ts';
import { printTable } from '../../core/text-table.ts';
import type { InstancePath, Journey, JourneyStats } from '../../journeys/index.ts';
import { describeLift } from '../../journeys/lift.ts';
import { ApiClient, type ServerFlags, serverOptions } from '../api-client.ts';
import { printJson, readJsonFile } from '../json-io.ts';

interface FileFlags extends ServerFlags {
  file: string;
  name?: string;
  description?: string;
}

/** What a journey file may hold: a bare definition, or `{name?, description?, definition}` as the API takes it. */
interface JourneyFile {
  name?: string;
  description?: string;
  definition: unknown;
}

function readJourneyFile(file: string): JourneyFile {
  const parsed = readJsonFile(file, 'journey');
  const wrapped = parsed !== null && typeof parsed === 'object' && 'definition' in parsed;
  return wrapped ? (parsed as JourneyFile) : { definition: parsed };
}

const time = (ms: number | null) => (ms === null ? '' : new Date(ms).toISOString());
const path = (id: string, rest = '') => `/api/journeys/${encodeURIComponent(id)}${rest}`;
/** A draft that was never published has version 0, which is no version to show. */
const versionLabel = (j: Journey) => (j.version === 0 ? 'never published' : `version ${j.version}`);

function printShow(j: Journey & { stats: JourneyStats }) {
  const s = j.stats;
  console.log(
    `journey ${j.journeyId} "${j.name}": ${j.status}, ${versionLabel(j)}${j.publishedAt ? `, first published ${time(j.publishedAt)}` : ''}`,
  );
  console.log(
    `entered ${s.entered}  active ${s.active}  completed ${s.completed}  exited ${s.exited}  converted ${s.converted}  revenue ${s.revenue}`,
  );
  console.log(`holdout: entered ${s.holdout.entered}  converted ${s.holdout.converted}  revenue ${s.holdout.revenue}`);
  if (s.lift) {
    const l = s.lift;
    console.log(`lift vs holdout: ${describeLift(l)}`);
    console.log(
      `  test ${(l.testRate * 100).toFixed(1)}%, holdout ${(l.holdoutRate * 100).toFixed(1)}%; added about ${l.incrementalConversions.toFixed(1)} conversions and ${l.incrementalRevenue.toFixed(2)} revenue`,
    );
  }
  const queued = Object.entries(s.outbox);
  if (queued.length) console.log(`outbox: ${queued.map(([action, n]) => `${action} ${n}`).join(', ')}`);
  // Nodes of the current definition in canvas order, then any that only older versions had.
  const types = new Map(j.definition.nodes.map((n) => [n.id, n.type as string]));
  const ids = [...types.keys(), ...Object.keys(s.nodes).filter((id) => !types.has(id))];
  const counts = (id: string) => s.nodes[id] ?? { current: 0, passed: 0, branches: {} };
  printTable(
    ids.map((id) => ({
      node: id,
      type: types.get(id) ?? '(older version)',
      now: counts(id).current,
      passed: counts(id).passed,
      branches: Object.entries(counts(id).branches)
        .map(([b, n]) => `${b} ${n}`)
        .join(', '),
    })),
  );
  const max = Math.max(0, ...ids.map((id) => counts(id).passed));
  const width = Math.max(...ids.map((id) => id.length));
  console.log('people passed per node');
  for (const id of ids) console.log(`${id.padEnd(width)} ${bar(counts(id).passed, max)} ${counts(id).passed}`);
}

function printPath(person: string, instances: InstancePath[]) {
  if (instances.length === 0) console.log(`${person} has not entered this journey`);
  for (const i of instances) {
    const where = i.status === 'active' ? `active at ${i.nodeId}` : `${i.status}${i.exitReason ? ` (${i.exitReason})` : ''}`;
    const revenue = i.revenue === null ? '' : `, revenue ${i.revenue}`;
    console.log(`instance ${i.instanceId}${i.key === null ? '' : ` key ${i.key}`}: version ${i.version}, ${where}${revenue}`);
    console.log(`  entered ${time(i.enteredAt)}${i.exitedAt ? `, left ${time(i.exitedAt)}` : ''}, holdout ${i.holdout ? 'yes' : 'no'}`);
    // Each outbox row goes under the step of the node that queued it (a node may be passed more than once).
    const queued = [...i.outbox];
    const printQueued = (o: InstancePath['outbox'][number]) =>
      console.log(`      queued ${o.action} ${[o.channel, o.template].filter(Boolean).join('/')} ${JSON.stringify(o.payload)}`);
    for (const s of i.steps) {
      console.log(`  ${time(s.at)}  ${s.nodeId} --${s.branch ?? ''}--> ${s.nextNodeId ?? '(end)'}`);
      const at = queued.findIndex((o) => o.nodeId === s.nodeId);
      if (at >= 0) printQueued(queued.splice(at, 1)[0]!);
    }
    queued.forEach(printQueued);
  }
}

/** publish, pause, resume: POST /api/journeys/:id/<name>, then the journey's new state. */
function stateCommand(journeys: Command, name: string, description: string) {
  serverOptions(journeys.command(`${name} <id>`).description(description)).action(async (id: string, flags: ServerFlags) => {
    const j = await new ApiClient(flags).call<Journey>('POST', path(id, `/${name}`));
    console.log(`journey ${j.journeyId} "${j.name}": ${j.status}, ${versionLabel(j)}`);
  });
}

export function registerJourneys(program: Command) {
  const journeys = program.command('journeys').description('Journeys: validate, create, publish, inspect (through the running server)');

  serverOptions(journeys.command('list').description('List journeys (archived ones are left out)'))
    .option('--json', 'print JSON')
    .action(async (flags: ServerFlags & { json?: boolean }) => {
      const { journeys: list } = await new ApiClient(flags).call<{ journeys: Journey[] }>('GET', '/api/journeys');
      if (flags.json) return printJson(list);
      printTable(
        list.map((j) => ({
          id: j.journeyId,
          name: j.name,
          status: j.status,
          version: j.version === 0 ? '–' : j.version,
          nodes: j.definition.nodes.length,
          updated: time(j.updatedAt),
        })),
      );
    });

  serverOptions(journeys.command('validate').description('Check a definition without saving it; exit code 1 if it has problems'))
    .requiredOption('--file <path>', 'definition JSON file ("-" for stdin)')
    .action(async (flags: FileFlags) => {
      const { definition } = readJourneyFile(flags.file);
      const r = await new ApiClient(flags).call<{ valid: boolean; problems: ErrorBody[] }>('POST', '/api/journeys/validate', {
        definition,
      });
      if (r.valid) return console.log('valid: the journey can be published');
      for (const p of r.problems) console.log(`${p.path || '(definition)'}: ${p.message}`);
      process.exitCode = 1;
    });

  serverOptions(journeys.command('create').description('Save a journey as a draft'))
    .option('--name <name>', 'journey name (default: the name in the file)')
    .option('--description <text>', 'what the journey is for')
    .requiredOption('--file <path>', 'definition JSON file, or {name, description, definition} ("-" for stdin)')
    .action(async (flags: FileFlags) => {
      const f = readJourneyFile(flags.file);
      const name = flags.name ?? f.name;
      if (!name) throw new AppError('invalid_request', 'give the journey a --name (or a "name" in the file)', 'name');
      const j = await new ApiClient(flags).call<Journey>('POST', '/api/journeys', {
        name,
        description: flags.description ?? f.description,
        definition: f.definition,
      });
      console.log(`journey ${j.journeyId} "${j.name}": draft (start it with \`shopflow journeys publish ${j.journeyId}\`)`);
    });

  serverOptions(
    journeys.command('edit <id>').description('Replace the definition; on a running or paused journey this publishes a new version'),
  )
    .requiredOption('--file <path>', 'definition JSON file, or {name, description, definition} ("-" for stdin)')
    .option('--name <name>', 'new name (default: the name in the file, else unchanged)')
    .option('--description <text>', 'new description (default: the file’s, else unchanged)')
    .action(async (id: string, flags: FileFlags) => {
      const api = new ApiClient(flags);
      const f = readJourneyFile(flags.file);
      // PUT replaces the whole journey: keep the current name and description unless given.
      const current = await api.call<Journey>('GET', path(id));
      const j = await api.call<Journey>('PUT', path(id), {
        name: flags.name ?? f.name ?? current.name,
        description: flags.description ?? f.description ?? current.description ?? undefined,
        definition: f.definition,
      });
      if (j.status === 'draft') console.log(`journey ${j.journeyId} "${j.name}": draft saved`);
      else
        console.log(
          `journey ${j.journeyId} "${j.name}" (${j.status}): published as version ${j.version}; new entries use it, people already inside finish on their version`,
        );
    });

  stateCommand(journeys, 'publish', 'Start a draft journey (version 1), or publish its draft as a new version');
  stateCommand(journeys, 'pause', 'Pause: nobody enters or moves until resumed');
  stateCommand(journeys, 'resume', 'Resume a paused journey');

  serverOptions(journeys.command('archive <id>').description('Stop a journey for good; everyone still inside leaves')).action(
    async (id: string, flags: ServerFlags) => {
      await new ApiClient(flags).call('DELETE', path(id));
      console.log(`journey ${id} archived`);
    },
  );

  serverOptions(journeys.command('show <id>').description('Status, totals, holdout and a per-node table with a chart of people passed'))
    .option('--json', 'print JSON')
    .action(async (id: string, flags: ServerFlags & { json?: boolean }) => {
      const j = await new ApiClient(flags).call<Journey & { stats: JourneyStats }>('GET', path(id));
      if (flags.json) printJson(j);
      else printShow(j);
    });

  serverOptions(journeys.command('path <id>').description("A person's way through the journey: instances, steps, messages"))
    .requiredOption('--user <userId>', 'the person')
    .option('--by <type>', 'identity type of --user (e.g. email, phone)', 'user_id')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: ServerFlags & { user: string; by: string; json?: boolean }) => {
      const r = await new ApiClient(flags).call<{ userKey: number; instances: InstancePath[] }>(
        'GET',
        path(id, `/people/${encodeURIComponent(flags.user)}?by=${encodeURIComponent(flags.by)}`),
      );
      if (flags.json) printJson(r);
      else printPath(flags.user, r.instances);
    });

  serverOptions(journeys.command('enroll <id>').description('Enrol a person into a journey with an API trigger'))
    .requiredOption('--user <userId>', 'the person (user id)')
    .option('--key <key>', 'keyed journeys: the instance key, e.g. an order id')
    .option('--properties <json>', 'trigger properties for templates, as a JSON object')
    .action(async (id: string, flags: ServerFlags & { user: string; key?: string; properties?: string }) => {
      let properties: unknown;
      try {
        properties = flags.properties === undefined ? undefined : JSON.parse(flags.properties);
      } catch (err) {
        throw new AppError('invalid_json', `--properties is not JSON: ${(err as Error).message}`, 'properties');
      }
      const r = await new ApiClient(flags).call<{ entered: boolean; instanceId: number | null }>('POST', path(id, '/enroll'), {
        userId: flags.user,
        key: flags.key,
        properties,
      });
      console.log(
        r.entered
          ? `${flags.user} entered journey ${id}: instance ${r.instanceId}`
          : `${flags.user} did not enter journey ${id} (its re-entry rules or concurrency cap refused)`,
      );
    });

  serverOptions(journeys.command('outbox').description('Messages and actions journeys queued, newest first'))
    .option('--journey <id>', 'only this journey')
    .option('--status <status>', 'only rows in this state (queued, sent, delivered, skipped, failed, unknown…)')
    .option('--limit <n>', 'how many', '100')
    .option('--json', 'print JSON')
    .action(async (flags: ServerFlags & { journey?: string; status?: string; limit: string; json?: boolean }) => {
      const query = new URLSearchParams({
        limit: flags.limit,
        ...(flags.journey ? { journeyId: flags.journey } : {}),
        ...(flags.status ? { status: flags.status } : {}),
      });
      const { messages } = await new ApiClient(flags).call<{ messages: OutboxRow[] }>('GET', `/api/outbox?${query}`);
      if (flags.json) return printJson(messages);
      printTable(
        messages.map((m) => ({
          journey: m.journeyId,
          node: m.nodeId,
          user: m.userId ?? `#${m.userKey}`,
          action: m.action,
          channel: m.channel ?? '',
          template: m.template ?? '',
          status: m.status,
          attempts: m.attempts,
          reason: m.reason ?? '',
          created: time(m.createdAt),
        })),
      );
    });
}

/** A row of GET /api/outbox (the table's columns as they are). */
interface OutboxRow {
  messageKey: string;
  journeyId: number;
  nodeId: string;
  userKey: number;
  userId: string | null;
  action: string;
  channel: string | null;
  template: string | null;
  status: string;
  reason: string | null;
  attempts: number;
  createdAt: number;
}
