/**
 * Runs `tick` every `intervalMs` (after the previous run finished, so runs never overlap) until
 * stopped. A failed run is logged and the next one happens as usual.
 */
export interface Ticker {
  /** Stops scheduling and waits for a run in progress. */
  stop(): Promise<void>;
}

export function startTicker(tick: () => Promise<unknown>, intervalMs: number, log: (err: unknown) => void): Ticker {
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let running: Promise<unknown> = Promise.resolve();
  const loop = () => {
    running = tick()
      .catch(log)
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, intervalMs);
      });
  };
  timer = setTimeout(loop, intervalMs);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
