export { IngestBuffer, type IngestBufferOptions, type SubmitResult } from './ingest-buffer.ts';
export { MAX_EVENT_BYTES, normalizeEvent, type NormalizeContext } from './normalize.ts';
export type { NormalizedEvent } from './normalized-event.ts';
export { writeBatch, type WriteResult } from './write-batch.ts';
