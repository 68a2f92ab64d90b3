import type { Command } from 'commander';
import { systemClock } from '../../core/clock.ts';
import { runDemo } from '../../sim/index.ts';
import { advisoryLock, whileLocked } from '../../store/index.ts';
import { wholeNumberFlag } from '../flags.ts';
import { configFrom, defaultCdnowFile, ensureDefaultWorkspace, openConfiguredStore, type StoreFlags, workspaceIdOf } from '../open.ts';
import { terminalProgress } from '../progress.ts';

interface DemoFlags extends StoreFlags {
  users: string;
  days: string;
  seed: string;
  dataset: 'shop' | 'cdnow';
  cdnowFile: string;
  workspace: string;
  out?: string;
}

export function registerDemo(program: Command) {
  program
    .command('demo')
    .description('Generate a simulated shop (or load the real CDNOW history) through the ingestion path')
    .option('--users <n>', 'simulated members', '2000')
    .option('--days <n>', 'days of history, ending now', '60')
    .option('--seed <n>', 'random seed (same seed, same data)', '1')
    .option('--dataset <name>', 'shop (simulated) or cdnow (real purchase history)', 'shop')
    .option('--cdnow-file <path>', 'CDNOW_master.txt', defaultCdnowFile)
    .option('--workspace <name>', 'workspace to load into', 'default')
    .option('--out <file>', 'write the events as NDJSON to this file instead of storing them')
    .option('--data <dir>', 'data folder of the embedded store')
    .option('--store <url>', 'postgres://… to use PostgreSQL')
    .action(async (flags: DemoFlags) => {
      // Flags first: a bad one must not create a store.
      const options = {
        dataset: flags.dataset,
        users: wholeNumberFlag(flags.users, '--users', 1, 100_000_000),
        days: wholeNumberFlag(flags.days, '--days', 1, 3650),
        seed: wholeNumberFlag(flags.seed, '--seed', 0),
        endAt: systemClock.now(),
        cdnowFile: flags.cdnowFile,
        out: flags.out,
      };
      const store = await openConfiguredStore(configFrom(flags));
      try {
        if (!flags.out && flags.workspace === 'default') {
          await whileLocked(store, advisoryLock.firstStart, 0, () => ensureDefaultWorkspace(store, configFrom(flags).dataDir));
        }
        const workspaceId = flags.out ? 0 : await workspaceIdOf(store, flags.workspace);
        const summary = await runDemo(store, systemClock, workspaceId, options, terminalProgress());
        console.log(JSON.stringify(summary));
      } finally {
        await store.close();
      }
    });
}
