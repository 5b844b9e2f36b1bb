/**
 * Counts requests in flight across every binding of a worker. Past the cap a
 * request is refused at once (503) instead of queueing without bound; on
 * shutdown `idle()` tells when every accepted request has been answered.
 */
export class InFlightGate {
  private count = 0;
  private waiters: Array<() => void> = [];

  constructor(readonly limit: number) {}

  get size(): number {
    return this.count;
  }

  tryAcquire(): boolean {
    if (this.count >= this.limit) return false;
    this.count++;
    return true;
  }

  release(): void {
    this.count--;
    if (this.count === 0 && this.waiters.length > 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Resolves true once nothing is in flight, false if `timeoutMs` passes first. */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== wake);
        resolve(false);
      }, timeoutMs);
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(wake);
    });
  }
}
