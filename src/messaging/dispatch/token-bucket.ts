/**
 * A per-provider rate limit: `ratePerSecond` tokens a second, bursts up to one second's worth.
 * `take()` resolves when a call may go out. Real time on purpose: providers count real seconds.
 */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();
  private queue: Promise<void> = Promise.resolve();

  constructor(readonly ratePerSecond: number) {
    this.tokens = ratePerSecond;
  }

  take(): Promise<void> {
    // Callers queue behind each other so the order of waiting is the order of sending.
    const next = this.queue.then(() => this.wait());
    this.queue = next;
    return next;
  }

  private async wait(): Promise<void> {
    for (;;) {
      const now = performance.now();
      this.tokens = Math.min(this.ratePerSecond, this.tokens + ((now - this.last) / 1000) * this.ratePerSecond);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await new Promise((r) => setTimeout(r, Math.ceil(((1 - this.tokens) / this.ratePerSecond) * 1000)));
    }
  }
}
