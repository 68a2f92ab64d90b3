/**
 * The process test/dispatch-crash.test.ts kills: opens the store it is given, starts one dispatcher
 * tick (whose provider calls the test's mocks accept but never answer), waits until the attempts
 * are on record ('sending'), then leaves some rows 'claimed' as a process dying between claiming and
 * planning would, says READY and waits to be killed with SIGKILL.
 *
 *   node --import tsx test/dispatch-crash-child.ts '<json ChildConfig>'
 */
import { systemClock } from '../src/core/clock.ts';
import { Dispatcher } from '../src/messaging/index.ts';
import { openStore } from '../src/store/index.ts';

export interface ChildConfig {
  /** A postgres:// URL, or empty for the DuckDB file in dataDir. */
  url: string;
  dataDir: string;
  publicUrl: string;
  leaseMs: number;
  /** How many rows the tick must have put in 'sending' before READY. */
  expectSending: number;
  /** Rows (not yet due) to leave 'claimed' once the tick is mid-call. */
  claim: string[];
}

const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
const store = await openStore({ url: config.url, dataDir: config.dataDir, dedupeDays: 8 }, systemClock);
const dispatcher = new Dispatcher(store, systemClock, {
  publicUrl: config.publicUrl,
  outbound: { allowPrivateNetworks: true, timeoutMs: 30_000 },
  leaseMs: config.leaseMs,
});

let settled = false;
const ticking = dispatcher.tick().then(
  (n) => {
    settled = true;
    console.log(`TICK-DONE ${n}`);
  },
  (err: unknown) => {
    settled = true;
    console.error(`TICK-FAILED ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);

// The attempts are committed before any provider hears of them; wait until they are all on record.
for (;;) {
  const [row] = await store.query<{ n: number }>(`SELECT count(*) AS n FROM outbox WHERE status = 'sending'`);
  if (Number(row?.n ?? 0) >= config.expectSending) break;
  if (settled) {
    console.error('TICK-ENDED before every row was sending');
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 25));
}

// As claimDue would leave them: claimed now, due now, no attempt yet.
for (const key of config.claim) {
  await store.query(`UPDATE outbox SET status = 'claimed', next_attempt_at = NULL, updated_at = $1 WHERE message_key = $2`, [
    systemClock.now(),
    key,
  ]);
}
console.log('READY');
await ticking;
await dispatcher.stop();
await store.close();
