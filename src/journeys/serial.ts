import { serialQueue } from '../core/serial-queue.ts';

/**
 * Everything that writes journey state — engine ticks, publish, edit, pause, archive, API entry —
 * runs one at a time per store in this process: DuckDB has one writer and would otherwise abort
 * one of two conflicting transactions. Across PostgreSQL processes, row locks and the engine's
 * advisory locks do the same.
 */
export const journeyWrites = serialQueue();
