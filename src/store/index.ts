export { advisoryLock, whileLocked } from './advisory-locks.ts';
export { consistentRead } from './consistent-read.ts';
export { arrayCast, columnTypes, jsonArrayAgg, jsonObject, jsonRecords, jsonText, keysIn, keysParam } from './dialect.ts';
export { eventsSettledAt, SettledEvents } from './events-settled.ts';
export { IdentityCache } from './identity-cache.ts';
export { reserveKeys, takeKeys } from './key-ranges.ts';
export { latestVersion } from './migrations.ts';
export { openStore, type StoreConfig } from './open-store.ts';
export type { ColumnSpec, ColumnType, Dialect, Row, Session, SqlExecutor, SqlParam, Store, WakeChannel } from './port.ts';
