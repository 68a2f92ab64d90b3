import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import {
  buildModel,
  defaultEvaluation,
  evaluateRecommendations,
  formatEvaluation,
  type Strategy,
  strategies,
} from '../../commerce/recommendations/index.ts';
import { DAY, HOUR, systemClock } from '../../core/clock.ts';
import { AppError } from '../../core/errors.ts';
import { runDemo } from '../../sim/index.ts';
import { openStore, type Store } from '../../store/index.ts';
import { createWorkspace } from '../../workspaces/index.ts';
import { wholeNumberFlag } from '../flags.ts';
import { printJson } from '../json-io.ts';
import { configFrom, openConfiguredStore, type StoreFlags, workspaceIdOf } from '../open.ts';
import { terminalProgress } from '../progress.ts';

interface EvaluateFlags extends StoreFlags {
  workspace: string;
  demo?: boolean;
  users: string;
  days: string;
  seed: string;
  end: string;
  strategies?: string;
  k: string;
  testDays: string;
  gapHours: string;
  json?: boolean;
}

function strategyList(value: string | undefined): Strategy[] {
  if (!value) return [...defaultEvaluation.strategies];
  const list = value.split(',').map((s) => s.trim());
  const unknown = list.find((s) => !strategies.includes(s as Strategy) || s === 'segment');
  if (unknown !== undefined) {
    throw new AppError(
      'invalid_request',
      `unknown strategy "${unknown}" (evaluable: ${defaultEvaluation.strategies.join(', ')})`,
      'strategies',
    );
  }
  // popular is the baseline every row is compared with.
  return [...new Set(['popular', ...list])] as Strategy[];
}

/** `--demo`: the simulated shop in a temporary embedded store, removed afterwards. */
async function withDemoStore<T>(flags: EvaluateFlags, fn: (store: Store, workspaceId: number) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'shopflow-recs-'));
  const store = await openStore({ dataDir: dir, dedupeDays: 8 }, systemClock);
  try {
    const endAt = Date.parse(flags.end);
    if (!Number.isFinite(endAt)) throw new AppError('invalid_request', '--end must be a date like 2026-01-01', 'end');
    const ws = await createWorkspace(store, 'recommendations-eval', systemClock.now());
    const demo = {
      dataset: 'shop' as const,
      users: wholeNumberFlag(flags.users, '--users', 1),
      days: wholeNumberFlag(flags.days, '--days', 1),
      seed: wholeNumberFlag(flags.seed, '--seed', 0),
    };
    const summary = await runDemo(store, systemClock, ws.workspaceId, { ...demo, endAt }, terminalProgress());
    process.stderr.write(`simulated shop: ${JSON.stringify({ ...demo, end: flags.end, ...summary })}\n`);
    return await fn(store, ws.workspaceId);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function registerRecommendations(program: Command) {
  const recs = program.command('recommendations').description('Product recommendations: offline evaluation, item-to-item model');

  recs
    .command('evaluate')
    .description("Hold out each buyer's last order and report hit-rate@k per strategy against popular (reads the store only)")
    .option('--workspace <name>', 'workspace to evaluate', 'default')
    .option('--demo', 'evaluate a freshly simulated shop in a temporary store instead')
    .option('--users <n>', '--demo: simulated members', '20000')
    .option('--days <n>', '--demo: days of history', '365')
    .option('--seed <n>', '--demo: random seed', '42')
    .option('--end <date>', '--demo: history ends on this date (fixed, so figures repeat)', '2026-01-01')
    .option('--strategies <list>', `comma-separated (default ${defaultEvaluation.strategies.join(',')})`)
    .option('--k <n>', 'list length', String(defaultEvaluation.k))
    .option('--test-days <n>', 'last orders in this many final days are held out', String(defaultEvaluation.testDays))
    .option('--gap-hours <n>', "each person's history stops this long before the held-out order", String(defaultEvaluation.gapMs / HOUR))
    .option('--json', 'print only the JSON report')
    .option('--data <dir>', 'data folder of the embedded store')
    .option('--store <url>', 'postgres://… to use PostgreSQL')
    .action(async (flags: EvaluateFlags) => {
      const options = {
        strategies: strategyList(flags.strategies),
        k: wholeNumberFlag(flags.k, '--k', 1),
        testDays: wholeNumberFlag(flags.testDays, '--test-days', 1),
        gapMs: wholeNumberFlag(flags.gapHours, '--gap-hours', 0) * HOUR,
      };
      if (options.testDays * DAY <= options.gapMs)
        throw new AppError('invalid_request', '--gap-hours must be shorter than --test-days', 'gap-hours');
      const run = (store: Store, workspaceId: number) => evaluateRecommendations(store, workspaceId, options, terminalProgress());
      let report: Awaited<ReturnType<typeof run>>;
      if (flags.demo) {
        report = await withDemoStore(flags, run);
      } else {
        const store = await openConfiguredStore(configFrom(flags), { writesEvents: false });
        try {
          report = await run(store, await workspaceIdOf(store, flags.workspace));
        } finally {
          await store.close();
        }
      }
      if (!report)
        throw new AppError(
          'not_found',
          `no buyer's last order falls in the last ${options.testDays} days: nothing to hold out`,
          'workspace',
        );
      if (!flags.json) console.log(`${formatEvaluation(report)}\n`);
      printJson(report);
    });

  recs
    .command('build')
    .description('Rebuild the item-to-item model from order history now (e.g. nightly from cron)')
    .option('--workspace <name>', 'workspace', 'default')
    .option('--data <dir>', 'data folder of the embedded store')
    .option('--store <url>', 'postgres://… to use PostgreSQL')
    .action(async (flags: StoreFlags & { workspace: string }) => {
      const store = await openConfiguredStore(configFrom(flags), { writesEvents: false });
      try {
        const state = await buildModel(store, await workspaceIdOf(store, flags.workspace), systemClock.now(), { force: true });
        console.log(JSON.stringify(state));
      } finally {
        await store.close();
      }
    });
}
