/**
 * Runs `tick` every `intervalMs` (after the previous run finished, so runs never overlap) until
 * stopped. A failed run is logged and the next one happens as usual.
 */
export interface Ticker {
  /** Runs a tick as soon as possible (right after the one in progress, if any). */
  nudge(): void;
  /** Stops scheduling and waits for a run in progress. */
  stop(): Promise<void>;
}

export function startTicker(tick: () => Promise<unknown>, intervalMs: number, log: (err: unknown) => void): Ticker {
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let running: Promise<unknown> | null = null;
  let again = false;
  const schedule = (ms: number) => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(loop, ms);
  };
  const loop = () => {
    timer = null;
    again = false;
    running = tick()
      .catch(log)
      .finally(() => {
        running = null;
        if (!stopped) schedule(again ? 0 : intervalMs);
      });
  };
  schedule(intervalMs);
  return {
    nudge() {
      if (stopped) return;
      if (running) again = true;
      else schedule(0);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
