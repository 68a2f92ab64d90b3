import { createJourney, type JourneyDefinition, publishJourney } from '../../journeys/index.ts';
import { createSegment, type SegmentRefresher, segmentInputSchema } from '../../segments/index.ts';
import type { Store } from '../../store/index.ts';
import { installDemoTemplates, installPlaceholderTemplates } from '../demo-templates.ts';
import { type JourneyFile, journeyInput, segmentDefinition } from './journey-file.ts';

export interface SimJourney {
  journeyId: number;
  name: string;
  file: string;
  definition: JourneyDefinition;
}

/**
 * Creates the segments the journey files declare (realtime, evaluated now), the demo shop's message
 * templates (which the example journeys send) and a placeholder for any other template a file
 * sends, then creates and publishes the journeys, exactly as an operator would through the API.
 */
export async function publishSimJourneys(
  store: Store,
  workspaceId: number,
  files: readonly JourneyFile[],
  refresher: SegmentRefresher,
  now: number,
): Promise<SimJourney[]> {
  const segmentIds = new Map<string, number>();
  for (const f of files) {
    for (const [i, s] of f.segments.entries()) {
      if (segmentIds.has(s.name)) continue;
      const input = segmentInputSchema.parse({ name: s.name, definition: segmentDefinition(f, i, segmentIds) });
      const segment = await createSegment(store, workspaceId, input, now);
      await refresher.refreshOne(workspaceId, segment.segmentId);
      segmentIds.set(s.name, segment.segmentId);
    }
  }
  await installDemoTemplates(store, workspaceId, now);
  const journeys: SimJourney[] = [];
  for (const f of files) {
    const input = journeyInput(f, segmentIds);
    await installPlaceholderTemplates(store, workspaceId, input.definition, now);
    const created = await createJourney(store, workspaceId, input, now);
    await publishJourney(store, workspaceId, created.journeyId, now);
    journeys.push({ journeyId: created.journeyId, name: input.name, file: f.file, definition: input.definition });
  }
  return journeys;
}
