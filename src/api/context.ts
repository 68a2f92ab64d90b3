import type { Clock } from '../core/clock.ts';
import type { IngestBuffer } from '../ingest/index.ts';
import type { Dispatcher } from '../messaging/index.ts';
import type { SegmentRefresher } from '../segments/index.ts';
import type { Store } from '../store/index.ts';
import type { KeyRing } from '../workspaces/index.ts';

/** Wakes a job to take new work now, wherever it runs (this process, or another through the store). */
export interface Wakeups {
  /** A journey was published or resumed, or someone enrolled through the API. */
  engine(): void;
  dispatcher(): void;
}

/** What every route needs; built once by the server. */
export interface ApiContext {
  store: Store;
  clock: Clock;
  keys: KeyRing;
  ingest: IngestBuffer;
  segments: SegmentRefresher;
  dispatcher: Dispatcher;
  wake: Wakeups;
}
