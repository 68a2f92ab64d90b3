/**
 * Tables whose rows belong to a person (by user_key): a merge moves them all to the survivor,
 * so a merged person's history, journey instances (their waits and goals) and messages carry on.
 */
export const personRowTables = ['identities', 'events', 'event_items', 'journey_instances', 'journey_steps', 'outbox'] as const;
