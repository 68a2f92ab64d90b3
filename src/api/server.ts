import cors from '@fastify/cors';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { syncAllCoupons } from '../commerce/coupons/index.ts';
import { type MemberJobOptions, MemberJobs } from '../commerce/members/index.ts';
import { buildModel } from '../commerce/recommendations/index.ts';
import type { Clock } from '../core/clock.ts';
import { type ServeRole, serveRoles } from '../core/config.ts';
import { storableJson, storableValues } from '../core/storable-text.ts';
import { startTicker, type Ticker } from '../core/ticker.ts';
import { IngestBuffer, type IngestBufferOptions } from '../ingest/index.ts';
import { type CommittedEvent, defaultEngineOptions, type EngineOptions, JourneyEngine } from '../journeys/index.ts';
import { Dispatcher, type DispatcherOptions } from '../messaging/index.ts';
import { type ProfileJobOptions, ProfileJobs } from '../profiles/index.ts';
import { type RefresherOptions, SegmentRefresher } from '../segments/index.ts';
import { longEventWriteWarnings, type Store } from '../store/index.ts';
import { KeyRing } from '../workspaces/index.ts';
import { registerAnalyticsJsRoutes } from './analytics-js-routes.ts';
import { registerCatalogRoutes } from './catalog-routes.ts';
import type { ApiContext, Wakeups } from './context.ts';
import { registerCouponRoutes } from './coupon-routes.ts';
import { errorHandler } from './errors.ts';
import { registerJourneyRoutes } from './journey-routes.ts';
import { registerMemberRoutes } from './member-routes.ts';
import { registerMessagingRoutes } from './messaging-routes.ts';
import { openApiDocument } from './openapi.ts';
import { registerPeopleRoutes } from './people-routes.ts';
import { registerRecommendationRoutes } from './recommendation-routes.ts';
import { decodeRequestBodies } from './request-encoding.ts';
import { registerSegmentRoutes } from './segment-routes.ts';
import { registerSlotRoutes } from './slot-routes.ts';
import { registerTemplateRoutes } from './template-routes.ts';
import { registerTrackingRoutes } from './tracking-routes.ts';
import { registerTraitsRoutes } from './traits-routes.ts';
import { registerWorkspaceRoutes } from './workspace-routes.ts';

export interface ServerOptions {
  store: Store;
  clock: Clock;
  ingest: IngestBufferOptions;
  logLevel: string;
  /**
   * What this process runs (default all): `api` answers the tracking and admin API, `engine` runs
   * every background job below except the dispatcher, `dispatcher` delivers messages. A process without `api`
   * answers `/health` only. Options of a job this process does not run are ignored.
   */
  roles?: readonly ServeRole[];
  /** Keep realtime and scheduled segments current in the background (omit in tests that tick by hand). */
  segments?: RefresherOptions & { tickMs: number };
  /** Keep computed traits and predictions current in the background (omit in tests that tick by hand). */
  profiles?: ProfileJobOptions & { tickMs: number };
  /** Run journeys in the background (omit in tests that tick by hand). */
  journeys?: EngineOptions & { tickMs: number };
  /** How messages go out; `tickMs` runs the dispatcher in the background (omit in tests that tick by hand). */
  messaging?: Partial<DispatcherOptions> & { tickMs?: number };
  /** Run the membership job (joins, order points, expiry, tiers, traits) in the background (omit in tests that tick by hand). */
  members?: Partial<MemberJobOptions> & { tickMs: number };
  /** Keep coupon states (redeemed, reminded, expired) and the recommendation model current in the background. */
  commerce?: { tickMs: number };
}

export interface Server {
  app: FastifyInstance;
  ingest: IngestBuffer;
  segments: SegmentRefresher;
  profiles: ProfileJobs;
  journeys: JourneyEngine;
  dispatcher: Dispatcher;
  members: MemberJobs;
  /** Stops accepting requests, writes what is buffered, closes the HTTP server. */
  close(): Promise<void>;
}

export async function buildServer(options: ServerOptions): Promise<Server> {
  const roles = options.roles ?? serveRoles;
  const engine = roles.includes('engine');
  const dispatching = roles.includes('dispatcher');
  // Per-request logs would dominate at 100k events/s; errors are still logged by the error handler.
  const app = Fastify({
    logger: { level: options.logLevel },
    logController: new LogController({ disableRequestLogging: true }),
  });
  const logFailure = (what: string) => (err: unknown) => app.log.error({ err }, what);
  // New work is taken at once by the job that does it: in this process, or in another one woken
  // through the store (PostgreSQL, `--role`); without the wake-up it waits for that job's tick.
  const wake: Wakeups = {
    engine: () =>
      engine ? journeys.nudge() : void options.store.notify('shopflow_new_events').catch(logFailure('waking the engine failed')),
    dispatcher: () =>
      dispatching
        ? dispatcher.nudge()
        : void options.store.notify('shopflow_queued_messages').catch(logFailure('waking the dispatcher failed')),
  };
  // New events may enrol people or end their waits: the engine takes each committed batch at once.
  const committed = (workspaceId: number, events: readonly CommittedEvent[]) =>
    engine ? journeys.eventsCommitted(workspaceId, events) : wake.engine();
  const ingest = new IngestBuffer(options.store, options.clock, { ...options.ingest, onCommitted: committed });
  // On DuckDB this process is the only writer, so the buffer knows exactly what is not stored yet.
  const pendingSince = options.store.dialect === 'duckdb' ? () => ingest.oldestPending() : undefined;
  const dispatcher = new Dispatcher(options.store, options.clock, options.messaging ?? {});
  // A journey tick that moved people may have queued messages: the dispatcher looks right after.
  const journeys = new JourneyEngine(options.store, options.clock, {
    ...defaultEngineOptions,
    ...options.journeys,
    pendingSince,
    onMoved: () => wake.dispatcher(),
  });
  const segments = new SegmentRefresher(options.store, options.clock, options.segments);
  const members = new MemberJobs(options.store, options.clock, { ...options.members, pendingSince });
  const ctx: ApiContext = {
    store: options.store,
    clock: options.clock,
    keys: new KeyRing(options.store),
    ingest,
    segments,
    dispatcher,
    wake,
  };

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({
      code: 'not_found',
      message: `no route ${request.method} ${request.url}`,
      path: '',
    });
  });

  if (roles.includes('api')) await registerApi(app, ctx);
  const profiles = new ProfileJobs(options.store, options.clock, options.profiles);
  if (engine && options.profiles) profiles.start(options.profiles.tickMs, logFailure('computed traits refresh failed'));
  if (engine && options.segments) segments.start(options.segments.tickMs, logFailure('segment refresh failed'));
  if (engine && options.journeys) journeys.start(options.journeys.tickMs, logFailure('journey tick failed'));
  // Coupon states follow order events; the similarity model is rebuilt when it is no longer fresh
  // (buildModel does nothing otherwise), so journeys and templates read it instead of computing live.
  const commerceTick = async () => {
    await syncAllCoupons(options.store, options.clock.now());
    for (const w of await options.store.query<{ workspace_id: number }>('SELECT workspace_id FROM workspaces')) {
      await buildModel(options.store, Number(w.workspace_id), options.clock.now(), { force: false });
    }
  };
  const commerceJobs: Ticker | null =
    engine && options.commerce ? startTicker(commerceTick, options.commerce.tickMs, logFailure('commerce jobs failed')) : null;
  if (engine && options.members) members.start(options.members.tickMs, logFailure('membership job failed'));
  // A write of journey, message, membership or coupon events that lasts holds back every reader of
  // its workspace's new events (EventsInFlight): the readers run here, so say so here.
  const longWrites: Ticker | null = engine
    ? startTicker(
        longEventWriteWarnings(options.store, options.clock, (fields, message) => app.log.warn(fields, message)),
        10_000,
        logFailure('looking for long event writes failed'),
      )
    : null;
  const dispatchEvery = options.messaging?.tickMs;
  if (dispatching && dispatchEvery) dispatcher.start(dispatchEvery, logFailure('message dispatch failed'));
  if (engine && options.journeys) await options.store.listen('shopflow_new_events', () => journeys.nudge());
  if (dispatching && dispatchEvery) await options.store.listen('shopflow_queued_messages', () => dispatcher.nudge());

  app.get('/health', async () => {
    await ctx.store.query('SELECT 1');
    return { ok: true, store: options.store.dialect, roles };
  });

  return {
    app,
    ingest,
    segments,
    profiles,
    journeys,
    dispatcher,
    members,
    async close() {
      await app.close();
      await ingest.flush();
      await journeys.stop();
      await dispatcher.stop();
      await members.stop();
      await commerceJobs?.stop();
      await longWrites?.stop();
      await segments.stop();
      await profiles.stop();
    },
  };
}

/** The tracking API (/v1), the admin API (/api) and its OpenAPI document. */
async function registerApi(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  // Fastify's JSON parser (with its prototype-poisoning checks), after text no engine can store is
  // replaced (storableJson). Some Segment libraries (browser beacons) send JSON as text/plain. An
  // empty body is no body: many HTTP clients label every request JSON, also a bodiless `POST
  // …/publish`; a route that needs a body then says which fields are missing.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  for (const type of ['application/json', 'text/plain']) {
    app.addContentTypeParser(type, { parseAs: 'string' }, (request, body, done) =>
      body === '' ? done(null, undefined) : parseJson(request, storableJson(body as string), done),
    );
  }
  // The same in a URL (`%00`): an id holding a NUL then finds what was stored for it.
  app.addHook('preValidation', async (request) => {
    storableValues(request.params);
    storableValues(request.query);
  });
  decodeRequestBodies(app);
  // A shop's web pages call the write-key API under /v1 (events from analytics.js, content slot
  // decisions) from the shop's own origin: it answers cross-origin requests and their preflight
  // (analytics.js sends the write key in an Authorization header). The admin API stays same-origin.
  await app.register(cors, {
    delegator: (request, done) =>
      done(null, request.url.startsWith('/v1/') ? { origin: true, methods: ['GET', 'POST'], maxAge: 86_400 } : { origin: false }),
  });
  registerTrackingRoutes(app, ctx);
  registerAnalyticsJsRoutes(app, ctx);
  registerPeopleRoutes(app, ctx);
  registerCatalogRoutes(app, ctx);
  registerWorkspaceRoutes(app, ctx);
  registerSegmentRoutes(app, ctx);
  registerTraitsRoutes(app, ctx);
  registerJourneyRoutes(app, ctx);
  registerTemplateRoutes(app, ctx);
  registerMessagingRoutes(app, ctx);
  registerCouponRoutes(app, ctx);
  registerRecommendationRoutes(app, ctx);
  registerMemberRoutes(app, ctx);
  registerSlotRoutes(app, ctx);
  app.get('/api/openapi.json', async () => openApiDocument());
}
