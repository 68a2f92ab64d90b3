import { Command } from 'commander';
import { AppError } from '../core/errors.ts';

type Register = (program: Command) => void;

/**
 * Each command's module, loaded only when that command runs: operator commands (segments,
 * journeys) then start in well under a second instead of loading the server, the simulator and
 * the benchmarks. Help (no or an unknown command) loads them all.
 */
const commands: Record<string, () => Promise<Register>> = {
  serve: async () => (await import('./commands/serve.ts')).registerServe,
  demo: async () => (await import('./commands/demo.ts')).registerDemo,
  import: async () => (await import('./commands/import.ts')).registerImport,
  keys: async () => (await import('./commands/keys.ts')).registerKeys,
  segments: async () => (await import('./commands/segments.ts')).registerSegments,
  journeys: async () => (await import('./commands/journeys.ts')).registerJourneys,
  channels: async () => (await import('./commands/messaging.ts')).registerChannels,
  messaging: async () => (await import('./commands/messaging.ts')).registerMessaging,
  templates: async () => (await import('./commands/templates.ts')).registerTemplates,
  simulate: async () => (await import('./commands/simulate.ts')).registerSimulate,
  recommendations: async () => (await import('./commands/recommendations.ts')).registerRecommendations,
  bench: async () => (await import('./commands/bench.ts')).registerBench,
};

const program = new Command('shopflow').description('Shopflow: e-commerce marketing automation').showHelpAfterError();
const name = process.argv[2];
for (const [command, load] of Object.entries(commands)) {
  if (name === undefined || !(name in commands) || name === command) (await load())(program);
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Expected problems (bad flags, locked store, unknown workspace) get one clear line, not a stack.
  if (err instanceof AppError) {
    console.error(`shopflow: ${err.message}`);
    process.exit(2);
  }
  if (err && typeof err === 'object' && 'issues' in err) {
    const issues = (err as { issues: { path: PropertyKey[]; message: string }[] }).issues;
    // A setting may come from the environment: name its variable, which is what the user typed.
    const { configEnv } = await import('../core/config.ts');
    const where = (path: PropertyKey[]) => {
      const name = path.map(String).join('.');
      const variable = configEnv[name as keyof typeof configEnv];
      return variable ? `${name} (${variable})` : name;
    };
    console.error(`shopflow: invalid configuration: ${issues.map((i) => `${where(i.path)}: ${i.message}`).join('; ')}`);
    process.exit(2);
  }
  throw err;
}
