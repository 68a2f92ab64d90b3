import type { Command } from 'commander';
import { buildServer } from '../../api/server.ts';
import { systemClock } from '../../core/clock.ts';
import { type Config, serveRoles } from '../../core/config.ts';
import { AppError } from '../../core/errors.ts';
import { defaultEngineOptions, journeysWithProblems } from '../../journeys/index.ts';
import { defaultProfileJobOptions } from '../../profiles/index.ts';
import { defaultRefresherOptions } from '../../segments/index.ts';
import { installDemoTemplates, runDemo } from '../../sim/index.ts';
import { advisoryLock, type Store, whileLocked } from '../../store/index.ts';
import { configFrom, defaultCdnowFile, ensureDefaultWorkspace, openConfiguredStore, workspaceIdOf } from '../open.ts';
import { terminalProgress } from '../progress.ts';

interface ServeFlags {
  port?: string;
  host?: string;
  data?: string;
  store?: string;
  role?: string;
  demo: boolean;
  logLevel?: string;
}

async function loadDemoIfEmpty(store: Store, config: Config) {
  const [row] = await store.query<{ n: number }>('SELECT count(*) AS n FROM events');
  if (Number(row!.n) > 0 || !config.demo) return;
  console.log(`Empty store: loading demo data (${config.demoUsers} simulated members, ${config.demoDays} days)…`);
  const summary = await runDemo(
    store,
    systemClock,
    await workspaceIdOf(store, 'default'),
    {
      dataset: 'shop',
      users: config.demoUsers,
      days: config.demoDays,
      seed: 1,
      endAt: systemClock.now(),
      cdnowFile: defaultCdnowFile,
    },
    terminalProgress(),
  );
  const templates = await installDemoTemplates(store, await workspaceIdOf(store, 'default'), systemClock.now());
  console.log(
    `Demo data: ${templates} message templates, ${summary.users} people, ${summary.events} events, ${summary.products} products in ${summary.seconds.toFixed(1)} s`,
  );
}

export function registerServe(program: Command) {
  program
    .command('serve')
    .description('Run the HTTP API (tracking + admin) on the configured store')
    .option('--port <n>', 'HTTP port (default 3000, env SHOPFLOW_PORT)')
    .option('--host <addr>', 'interface (default 0.0.0.0)')
    .option('--data <dir>', 'data folder of the embedded store (default ./data, env SHOPFLOW_DATA)')
    .option('--store <url>', 'postgres://… to use PostgreSQL (env SHOPFLOW_STORE)')
    .option('--role <roles>', 'api, engine, dispatcher (comma-separated) or all (default; env SHOPFLOW_ROLE; fewer than all: PostgreSQL)')
    .option('--no-demo', 'do not load demo data into an empty store')
    .option('--log-level <level>', 'fatal|error|warn|info|debug')
    .action(async (flags: ServeFlags) => {
      const config = configFrom(flags, {
        port: flags.port,
        host: flags.host,
        demo: flags.demo,
        logLevel: flags.logLevel,
        roles: flags.role,
      });
      const splitRoles = config.roles.length < serveRoles.length;
      if (splitRoles && !/^postgres(ql)?:\/\//.test(config.store ?? '')) {
        throw new AppError(
          'invalid_request',
          `--role ${config.roles.join(',')} splits the work between processes that share a PostgreSQL database (--store postgres://…); ` +
            'the embedded DuckDB store is opened by one process, which runs everything (--role all)',
          'role',
        );
      }
      const store = await openConfiguredStore(config);
      // Processes starting together on a new PostgreSQL database: one makes the workspace and the demo, the others wait and find them.
      await whileLocked(store, advisoryLock.firstStart, 0, async () => {
        await ensureDefaultWorkspace(store, config.dataDir);
        await loadDemoIfEmpty(store, config);
      });
      const server = await buildServer({
        store,
        clock: systemClock,
        ingest: {
          maxEvents: config.ingestMaxEvents,
          maxDelayMs: config.ingestMaxDelayMs,
        },
        logLevel: config.logLevel,
        roles: config.roles,
        segments: {
          ...defaultRefresherOptions,
          tickMs: config.segmentTickMs,
          timeRefreshMs: config.segmentTimeRefreshMs,
        },
        profiles: {
          ...defaultProfileJobOptions,
          tickMs: config.traitsTickMs,
          traitsEveryMs: config.traitsEveryMs,
          predictionsEveryMs: config.predictionsEveryMs,
        },
        journeys: { ...defaultEngineOptions, tickMs: config.journeyTickMs },
        members: { tickMs: 2_000 },
        commerce: { tickMs: 5_000 },
        messaging: {
          tickMs: config.dispatchTickMs,
          leaseMs: config.dispatchLeaseMs,
          publicUrl: config.publicUrl ?? `http://localhost:${config.port}`,
          outbound: { allowPrivateNetworks: config.allowPrivateNetworks },
        },
      });
      // The delivery threads load now, not with the first message (which waited ~1 s for them).
      if (config.roles.includes('dispatcher')) {
        server.dispatcher.prepare().catch((err) => server.app.log.error({ err }, 'starting the delivery threads failed'));
      }
      await server.app.listen({ port: config.port, host: config.host });
      const runs = splitRoles ? `, roles: ${config.roles.join(', ')}` : '';
      console.log(`Shopflow is serving on http://localhost:${config.port} (store: ${store.dialect} ${store.location}${runs})`);
      if (config.roles.includes('api')) {
        console.log(`  API description: http://localhost:${config.port}/api/openapi.json`);
        console.log(`  Web pages: Segment's analytics.js snippet, with this host in place of cdn.segment.com (docs/events.md)`);
      } else console.log(`  No API in this process (--role): it answers GET /health only`);
      await warnJourneysWithProblems(store);
      const shutdown = async (signal: string) => {
        console.log(`${signal}: finishing buffered writes and closing…`);
        await server.close();
        await store.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void shutdown('SIGINT'));
      process.once('SIGTERM', () => void shutdown('SIGTERM'));
    });
}

/** Names running journeys that would fail what they send (see journeysWithProblems); the server runs on. */
async function warnJourneysWithProblems(store: Store): Promise<void> {
  for (const j of await journeysWithProblems(store)) {
    const problems = j.problems.map((p) => `${p.path}: ${p.message}`).join('; ');
    console.warn(
      `Warning: journey ${j.journeyId} "${j.name}" (workspace ${j.workspaceId}, ${j.status}) names what is missing: ${problems}. ` +
        'What those nodes send fails until it exists again: create it, or edit the journey (docs/journeys.md).',
    );
  }
}
