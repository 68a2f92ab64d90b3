export type { ColumnSpec, ColumnType, Dialect, Row, SqlExecutor, SqlParam, Store } from './port.ts';
export { openStore, type StoreConfig } from './open-store.ts';
export { columnTypes, jsonText } from './dialect.ts';
export { latestVersion } from './migrations.ts';
