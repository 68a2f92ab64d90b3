// PLACEHOLDER: the simulator helper replaces this file.
import type { Clock } from '../core/clock.ts';
import type { Progress } from '../cli/progress.ts';
import type { Store } from '../store/index.ts';

export interface DemoOptions {
  dataset: 'shop' | 'cdnow';
  users: number;
  days: number;
  seed: number;
  /** Simulated history ends at this instant (epoch ms), usually clock.now(). */
  endAt: number;
  /** CDNOW_master.txt path (dataset 'cdnow'). */
  cdnowFile?: string;
  /** Write the events as NDJSON (Segment spec, one per line) to this file instead of storing them. */
  out?: string;
}

export interface DemoSummary {
  users: number;
  events: number;
  products: number;
  seconds: number;
}

export async function runDemo(_store: Store, _clock: Clock, _workspaceId: number, _options: DemoOptions, _progress: Progress): Promise<DemoSummary> {
  throw new Error('not implemented yet');
}
