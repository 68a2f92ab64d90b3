// The entry of a delivery thread (see delivery-pool.ts): a worker thread does not inherit the
// parent's module hooks, so it registers tsx itself (as bin/shopflow.js does) before loading the
// TypeScript.
import { register } from 'tsx/esm/api';

register();
await import('./delivery-worker.ts');
