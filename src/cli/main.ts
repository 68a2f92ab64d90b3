import { Command } from 'commander';
import { AppError } from '../core/errors.ts';
import { registerBench } from './commands/bench.ts';
import { registerDemo } from './commands/demo.ts';
import { registerImport } from './commands/import.ts';
import { registerJourneys } from './commands/journeys.ts';
import { registerKeys } from './commands/keys.ts';
import { registerSegments } from './commands/segments.ts';
import { registerServe } from './commands/serve.ts';
import { registerSimulate } from './commands/simulate.ts';

const program = new Command('shopflow').description('Shopflow: e-commerce marketing automation').showHelpAfterError();
registerServe(program);
registerDemo(program);
registerImport(program);
registerKeys(program);
registerSegments(program);
registerJourneys(program);
registerSimulate(program);
registerBench(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Expected problems (bad flags, locked store, unknown workspace) get one clear line, not a stack.
  if (err instanceof AppError) {
    console.error(`shopflow: ${err.message}`);
    process.exit(2);
  }
  if (err && typeof err === 'object' && 'issues' in err) {
    console.error(`shopflow: invalid configuration: ${JSON.stringify((err as { issues: unknown }).issues)}`);
    process.exit(2);
  }
  throw err;
}
