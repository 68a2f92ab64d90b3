import type { Command } from 'commander';
import { AppError } from '../../core/errors.ts';
import { durationMs } from '../../segments/index.ts';
import { checkJourneyFiles, formatReport, readJourneyFile, runJourneySimulation, type SimEngine } from '../../sim/journey-sim/index.ts';
import { wholeNumberFlag } from '../flags.ts';
import { terminalProgress } from '../progress.ts';

interface SimulateFlags {
  journey: string[];
  days: string;
  users: string;
  seed: string;
  step: string;
  historyDays: string;
  start: string;
  engine?: string;
  store?: string;
  keep: boolean;
  json: boolean;
}

/** A fixed default start keeps runs reproducible from the seed alone (a Monday, outside any promotion). */
const DEFAULT_START = '2026-03-02T00:00:00Z';

function stepMs(value: string): number {
  if (!/^\d{1,5}[mhd]$/.test(value) || durationMs(value as `${number}h`) < 60_000) {
    throw new AppError('invalid_request', '--step must be a duration like 30m, 1h or 1d', '--step');
  }
  return durationMs(value as `${number}h`);
}

function startMs(value: string): number {
  const t = Date.parse(value);
  if (!Number.isFinite(t))
    throw new AppError('invalid_request', '--start must be an ISO date like 2025-11-01 or 2025-11-01T00:00:00Z', '--start');
  return t;
}

const collect = (value: string, previous: string[]) => [...previous, ...value.split(',').filter((v) => v.trim() !== '')];

export function registerSimulate(program: Command) {
  program
    .command('simulate')
    .description('Run journeys on the shop simulator in virtual time, with simulated shoppers responding; print a report')
    .requiredOption('--journey <file>', 'journey JSON file (repeat, or a comma list, for several)', collect, [])
    .option('--days <n>', 'days the journeys run (virtual time)', '30')
    .option('--users <n>', 'simulated shoppers', '2000')
    .option('--seed <n>', 'random seed (same seed, same report)', '1')
    .option('--step <duration>', 'clock step: events, segments and journeys advance this much at a time', '1h')
    .option('--history-days <n>', 'days of shop history before the journeys start', '90')
    .option('--start <date>', 'when the journeys start (virtual)', DEFAULT_START)
    .option('--engine <engine>', 'duckdb (a temporary embedded file) or postgres (a temporary database on --store)')
    .option('--store <url>', 'postgres://… server for --engine postgres')
    .option('--keep', 'keep the temporary store and print where it is', false)
    .option('--json', 'print the report as JSON', false)
    .action(async (flags: SimulateFlags) => {
      if (flags.journey.length === 0) throw new AppError('invalid_request', 'give at least one --journey file', '--journey');
      const engine = (flags.engine ?? (flags.store ? 'postgres' : 'duckdb')) as SimEngine;
      if (engine !== 'duckdb' && engine !== 'postgres')
        throw new AppError('invalid_request', '--engine must be duckdb or postgres', '--engine');
      const seed = wholeNumberFlag(flags.seed, '--seed', 0);
      const journeys = flags.journey.map((f) => readJourneyFile(f.trim()));
      checkJourneyFiles(journeys);
      const { report, kept } = await runJourneySimulation(
        {
          journeys,
          users: wholeNumberFlag(flags.users, '--users', 1, 1_000_000),
          days: wholeNumberFlag(flags.days, '--days', 1, 3650),
          historyDays: wholeNumberFlag(flags.historyDays, '--history-days', 1, 3650),
          seed,
          stepMs: stepMs(flags.step),
          start: startMs(flags.start),
          engine,
          ...(flags.store ? { storeUrl: flags.store } : {}),
          keep: flags.keep,
        },
        terminalProgress(),
      );
      console.log(flags.json ? JSON.stringify(report, null, 2) : formatReport(report));
      if (kept) {
        console.error(`The simulated store was kept: ${kept.store} (workspace "${kept.workspace}", admin key ${kept.adminKey}).`);
        console.error('Its journeys are still published: a server opened on it carries them on in real time.');
      }
    });
}
