import { z } from 'zod';

/**
 * What a `serve` process does: answer the API (tracking and admin), advance journeys and keep
 * segments, traits, members and coupons current (the engine), or deliver queued messages (the
 * dispatcher). On PostgreSQL each may run in its own processes; `all` is all three.
 */
export const serveRoles = ['api', 'engine', 'dispatcher'] as const;
export type ServeRole = (typeof serveRoles)[number];

const roleList = z
  .string()
  .default('all')
  .transform((text) => text.split(',').map((r) => r.trim()))
  .refine((names) => names.every((r) => r === 'all' || (serveRoles as readonly string[]).includes(r)), {
    message: `a comma-separated list of ${serveRoles.join(', ')} (or all)`,
  })
  .transform((names): ServeRole[] => (names.includes('all') ? [...serveRoles] : serveRoles.filter((r) => names.includes(r))));

/**
 * All configuration, parsed once at startup (CLI flags over environment over defaults) and passed
 * down as typed options. Library code never reads process.env.
 */
export const configSchema = z.object({
  port: z.coerce.number().int().min(0).max(65535).default(3000).describe('HTTP port'),
  host: z.string().default('0.0.0.0').describe('Interface to listen on'),
  dataDir: z.string().default('./data').describe('Folder of the embedded DuckDB store and local files'),
  store: z.string().optional().describe('postgres://user:pass@host/db for PostgreSQL; empty for the embedded DuckDB file in dataDir'),
  roles: roleList.describe('What this process runs (api, engine, dispatcher; PostgreSQL only for fewer than all)'),
  dedupeDays: z.coerce.number().int().min(7).default(8).describe('Days a messageId is remembered for dedupe (at least 7)'),
  duckdbThreads: z.coerce
    .number()
    .int()
    .min(1)
    .max(1024)
    .optional()
    .describe('DuckDB worker threads (default: one per core); 1 favours small statements over large ones (docs/benchmarks.md)'),
  ingestMaxEvents: z.coerce.number().int().positive().default(5000).describe('Write a batch once this many events wait'),
  ingestMaxDelayMs: z.coerce
    .number()
    .int()
    .min(0)
    .default(0)
    .describe('…or this long after the first (0: at once, or with the next batch while one is written)'),
  segmentTickMs: z.coerce.number().int().min(100).default(1000).describe('How often realtime segments take in new events'),
  segmentTimeRefreshMs: z.coerce
    .number()
    .int()
    .min(1000)
    .default(60_000)
    .describe('How often realtime segments that depend on time ("last 7 days") are re-evaluated whole'),
  journeyTickMs: z.coerce
    .number()
    .int()
    .min(10)
    .default(500)
    .describe('How often journeys advance when nothing nudges them (new events wake the engine at once)'),
  dispatchTickMs: z.coerce.number().int().min(10).default(250).describe('How often queued messages are looked for and delivered'),
  dispatchLeaseMs: z.coerce
    .number()
    .int()
    .min(1000)
    .default(120_000)
    .describe(
      'PostgreSQL, several processes: how long a message claimed by a process that stopped answering waits before another takes it over',
    ),
  publicUrl: z
    .string()
    .url()
    .optional()
    .describe(
      'The URL people and providers reach this server at (unsubscribe and tracked links, provider callbacks); default http://localhost:PORT',
    ),
  allowPrivateNetworks: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true')
    .describe('Let webhooks and providers reach private and loopback addresses (providers hosted inside your network)'),
  traitsTickMs: z.coerce.number().int().min(100).default(10_000).describe('How often computed traits take in new events'),
  traitsEveryMs: z.coerce
    .number()
    .int()
    .min(60_000)
    .default(6 * 3_600_000)
    .describe('How often every computed trait is recomputed (recency, RFM and lifecycle move with time)'),
  predictionsEveryMs: z.coerce
    .number()
    .int()
    .min(60_000)
    .default(24 * 3_600_000)
    .describe('How often the purchase model is refitted and every prediction recomputed'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  demo: z.boolean().default(true).describe('Load demo data into an empty store on start'),
  demoUsers: z.coerce.number().int().positive().default(2000),
  demoDays: z.coerce.number().int().positive().default(60),
});
export type Config = z.infer<typeof configSchema>;

/** Environment variables that may set a config field (flags win). */
export const configEnv: Partial<Record<keyof Config, string>> = {
  port: 'SHOPFLOW_PORT',
  host: 'SHOPFLOW_HOST',
  dataDir: 'SHOPFLOW_DATA',
  store: 'SHOPFLOW_STORE',
  roles: 'SHOPFLOW_ROLE',
  duckdbThreads: 'SHOPFLOW_DUCKDB_THREADS',
  logLevel: 'SHOPFLOW_LOG_LEVEL',
  segmentTickMs: 'SHOPFLOW_SEGMENT_TICK_MS',
  segmentTimeRefreshMs: 'SHOPFLOW_SEGMENT_TIME_REFRESH_MS',
  journeyTickMs: 'SHOPFLOW_JOURNEY_TICK_MS',
  dispatchTickMs: 'SHOPFLOW_DISPATCH_TICK_MS',
  dispatchLeaseMs: 'SHOPFLOW_DISPATCH_LEASE_MS',
  publicUrl: 'SHOPFLOW_PUBLIC_URL',
  allowPrivateNetworks: 'SHOPFLOW_ALLOW_PRIVATE_NETWORKS',
  traitsTickMs: 'SHOPFLOW_TRAITS_TICK_MS',
  traitsEveryMs: 'SHOPFLOW_TRAITS_EVERY_MS',
  predictionsEveryMs: 'SHOPFLOW_PREDICTIONS_EVERY_MS',
};

export function parseConfig(flags: Record<string, unknown>, env: Record<string, string | undefined>): Config {
  const merged: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(configEnv)) if (env[name] !== undefined && env[name] !== '') merged[key] = env[name];
  for (const [key, value] of Object.entries(flags)) if (value !== undefined) merged[key] = value;
  return configSchema.parse(merged);
}
