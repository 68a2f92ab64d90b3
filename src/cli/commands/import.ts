import type { Command } from 'commander';
import { systemClock } from '../../core/clock.ts';
import { AppError } from '../../core/errors.ts';
import { importFile } from '../../ingest/bulk/index.ts';
import { printJson } from '../json-io.ts';
import { configFrom, fileMustExist, openConfiguredStore, type StoreFlags, workspaceIdOf } from '../open.ts';
import { terminalProgress } from '../progress.ts';

interface ImportFlags extends StoreFlags {
  format?: 'ndjson' | 'csv';
  workspace: string;
  skipInvalid?: boolean;
}

const kinds = ['events', 'profiles', 'products'] as const;

export function registerImport(program: Command) {
  program
    .command('import')
    .description('Bulk-load a file of events, profiles or products (NDJSON or CSV)')
    .argument('<kind>', kinds.join(' | '))
    .argument('<file>', 'the file; .csv means CSV, anything else NDJSON unless --format says')
    .option('--format <format>', 'ndjson or csv')
    .option('--skip-invalid', 'store the valid rows and report the invalid ones (default: refuse the file)')
    .option('--workspace <name>', 'workspace', 'default')
    .option('--data <dir>', 'data folder of the embedded store')
    .option('--store <url>', 'postgres://… to use PostgreSQL')
    .action(async (kind: string, file: string, flags: ImportFlags) => {
      if (!(kinds as readonly string[]).includes(kind))
        throw new AppError('invalid_request', `kind must be one of ${kinds.join(', ')}`, 'kind');
      fileMustExist(file, 'import file');
      const store = await openConfiguredStore(configFrom(flags), { writesEvents: false });
      try {
        const summary = await importFile(
          store,
          systemClock,
          await workspaceIdOf(store, flags.workspace),
          {
            kind: kind as (typeof kinds)[number],
            file,
            format: flags.format ?? (file.endsWith('.csv') ? 'csv' : 'ndjson'),
            skipInvalid: Boolean(flags.skipInvalid),
          },
          terminalProgress(),
        );
        printJson(summary);
        if (summary.rejected > 0 && !flags.skipInvalid) process.exitCode = 1;
      } finally {
        await store.close();
      }
    });
}
