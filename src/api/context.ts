import type { Clock } from '../core/clock.ts';
import type { IngestBuffer } from '../ingest/index.ts';
import type { JourneyEngine } from '../journeys/index.ts';
import type { Dispatcher } from '../messaging/index.ts';
import type { SegmentRefresher } from '../segments/index.ts';
import type { Store } from '../store/index.ts';
import type { KeyRing } from '../workspaces/index.ts';

/** What every route needs; built once by the server. */
export interface ApiContext {
  store: Store;
  clock: Clock;
  keys: KeyRing;
  ingest: IngestBuffer;
  segments: SegmentRefresher;
  journeys: JourneyEngine;
  dispatcher: Dispatcher;
}
