import { journeyDefinitionSchema } from '../src/journeys/index.ts';
import { installPlaceholderTemplates } from '../src/sim/index.ts';
import type { Store } from '../src/store/index.ts';

/**
 * Publishing refuses a journey that sends with a template the workspace lacks: this creates a
 * placeholder for each such template of `definition` (a template the test made itself is kept).
 */
export async function addMissingTemplates(store: Store, workspaceId: number, definition: unknown, now: number): Promise<void> {
  await installPlaceholderTemplates(store, workspaceId, journeyDefinitionSchema.parse(definition), now);
}
