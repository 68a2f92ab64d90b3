export { IngestBuffer, type IngestBufferOptions, type SubmitResult } from './ingest-buffer.ts';
export { MAX_EVENT_BYTES, type NormalizeContext, normalizeEvent } from './normalize.ts';
export type { NormalizedEvent } from './normalized-event.ts';
export { type WriteResult, writeBatch } from './write-batch.ts';
