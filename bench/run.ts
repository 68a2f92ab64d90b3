/**
 * `npm run bench`: every named benchmark on both engines (or the chosen ones), a table on
 * stdout and then the JSON of all results; progress goes to stderr. Exits 1 if any run failed.
 *
 *   npm run bench -- --only ingest-http --engine duckdb --events 200000
 */
import { mkdirSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { terminalProgress } from '../src/cli/progress.ts';
import {
  type BenchResult,
  benchmarkNames,
  type Engine,
  formatJourneyTable,
  formatMessagingTable,
  formatSegmentTable,
  formatSlotsTable,
  formatTable,
  runBenchmark,
} from './index.ts';

function positiveInt(v: string): number {
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

const program = new Command('bench')
  .description('Shopflow benchmarks, each against a plain SQL baseline in the same run')
  .option(
    '--users <n>',
    'pool of returning users (segments, journeys: people, default 1,000,000; messaging: people, default 20,000)',
    positiveInt,
  )
  .option(
    '--population <n>',
    'messaging: people in the store, the --users recipients spread over them (default: as many as --users)',
    positiveInt,
  )
  .option(
    '--events <n>',
    'events per run (default per benchmark and engine, see docs/benchmarks.md; journeys: latency orders)',
    positiveInt,
  )
  .addOption(new Option('--only <name>', 'run one benchmark').choices(benchmarkNames))
  .addOption(new Option('--engine <engine>', 'run one engine').choices(['duckdb', 'postgres']))
  .option('--batch-size <n>', 'ingest-http: events per /v1/batch request; messaging: messages per dispatcher batch', positiveInt)
  .option('--concurrency <n>', 'ingest-http: concurrent keep-alive clients; messaging: provider calls in flight', positiveInt)
  .option('--seed <n>', 'generator seed', positiveInt)
  .option('--cpu-prof <dir>', 'write a CPU profile of each measured phase into <dir> and summarise it on stderr')
  .option('--trace-sql', 'time every statement of the measured phase and print a breakdown on stderr')
  .addOption(new Option('--format <format>', 'import: the file format (the same events)').choices(['ndjson', 'csv']))
  .option('--json', 'print only the JSON of the results')
  .parse();

const opts = program.opts<{
  users?: number;
  population?: number;
  events?: number;
  only?: string;
  engine?: Engine;
  batchSize?: number;
  concurrency?: number;
  seed?: number;
  cpuProf?: string;
  traceSql?: boolean;
  format?: 'ndjson' | 'csv';
  json?: boolean;
}>();

if (opts.cpuProf) mkdirSync(opts.cpuProf, { recursive: true });
const names = opts.only ? [opts.only] : benchmarkNames;
const engines: Engine[] = opts.engine ? [opts.engine] : ['duckdb', 'postgres'];
const results: BenchResult[] = [];
for (const name of names) {
  process.stderr.write(`running ${name} on ${engines.join(', ')}…\n`);
  results.push(
    ...(await runBenchmark(name, {
      users: opts.users,
      population: opts.population,
      events: opts.events,
      engines,
      batchSize: opts.batchSize,
      concurrency: opts.concurrency,
      seed: opts.seed,
      cpuProfileDir: opts.cpuProf,
      traceSql: opts.traceSql,
      format: opts.format,
      progress: terminalProgress(),
    })),
  );
}
if (!opts.json) {
  const others = results.filter((r) => !['segments', 'journeys', 'messaging', 'slots'].includes(r.benchmark));
  if (others.length > 0) process.stdout.write(`${formatTable(others)}\n\n`);
  if (results.some((r) => r.benchmark === 'segments')) process.stdout.write(`${formatSegmentTable(results)}\n\n`);
  if (results.some((r) => r.benchmark === 'journeys')) process.stdout.write(`${formatJourneyTable(results)}\n\n`);
  if (results.some((r) => r.benchmark === 'messaging')) process.stdout.write(`${formatMessagingTable(results)}\n\n`);
  if (results.some((r) => r.benchmark === 'slots')) process.stdout.write(`${formatSlotsTable(results)}\n\n`);
}
process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
if (results.some((r) => r.error)) process.exitCode = 1;
