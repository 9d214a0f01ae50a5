import { onAbort } from '../abort.js';

/** A counting semaphore with a FIFO wait queue. `acquire` honours an AbortSignal. */
type Waiter = { resolve: () => void; reject: (e: unknown) => void; unsubscribe?: () => void };

export class Semaphore {
  #free: number;
  readonly #waiters: Waiter[] = [];

  constructor(readonly capacity: number) {
    this.#free = capacity;
  }

  get inUse(): number {
    return this.capacity - this.#free;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#free > 0 && this.#waiters.length === 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = { resolve, reject };
      if (signal) {
        w.unsubscribe = onAbort(signal, () => {
          const i = this.#waiters.indexOf(w);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(signal.reason);
        });
      }
      this.#waiters.push(w);
    });
  }

  release(): void {
    const w = this.#waiters.shift();
    if (w) {
      w.unsubscribe?.();
      w.resolve();
    } else {
      this.#free++;
    }
  }

  /** Resolves when every permit is free again. */
  async idle(pollMs = 20): Promise<void> {
    while (this.inUse > 0) await new Promise((r) => setTimeout(r, pollMs));
  }
}
