import type { Command } from 'commander';
import { benchmarkNames, formatSegmentTable, formatTable, runBenchmark } from '../../../bench/index.ts';
import { wholeNumberFlag } from '../flags.ts';
import { terminalProgress } from '../progress.ts';

interface BenchFlags {
  users?: string;
  events?: string;
  engine?: 'duckdb' | 'postgres';
  json?: boolean;
}

export function registerBench(program: Command) {
  program
    .command('bench')
    .description(`Run one benchmark on both engines (${benchmarkNames.join(', ')})`)
    .argument('<name>', 'benchmark name')
    .option('--users <n>', 'distinct users')
    .option('--events <n>', 'events')
    .option('--engine <engine>', 'duckdb or postgres (default: both)')
    .option('--json', 'print the figures as JSON')
    .action(async (name: string, flags: BenchFlags) => {
      const results = await runBenchmark(name, {
        users: flags.users ? wholeNumberFlag(flags.users, '--users', 1, 100_000_000) : undefined,
        events: flags.events ? wholeNumberFlag(flags.events, '--events', 1, 1_000_000_000) : undefined,
        engines: flags.engine ? [flags.engine] : ['duckdb', 'postgres'],
        progress: terminalProgress(),
      });
      const table = name === 'segments' ? formatSegmentTable(results) : formatTable(results);
      console.log(flags.json ? JSON.stringify(results, null, 2) : table);
      if (results.some((r) => r.error)) process.exitCode = 1;
    });
}
