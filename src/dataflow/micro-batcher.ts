/**
 * Gathers single items into batches for a batch function (the relevance worker pool), without a
 * barrier across documents: a batch is sent when it is full or `lingerMs` after its first item, and
 * each item's promise settles as soon as its own batch returns. At most `maxInFlight` batches run.
 */
type Waiting<T, R> = { item: T; resolve: (r: R) => void; reject: (e: unknown) => void };

export class MicroBatcher<T, R> {
  #pending: Waiting<T, R>[] = [];
  #timer: NodeJS.Timeout | undefined;
  #inFlight = 0;
  readonly #queued: Waiting<T, R>[][] = [];

  constructor(
    private readonly fn: (items: T[]) => Promise<R[]>,
    private readonly opts: { batchSize: number; lingerMs: number; maxInFlight: number },
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      if (this.#pending.length >= this.opts.batchSize) this.#cut();
      else if (!this.#timer) this.#timer = setTimeout(() => this.#cut(), this.opts.lingerMs);
    });
  }

  #cut(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length === 0) return;
    this.#queued.push(this.#pending);
    this.#pending = [];
    this.#pump();
  }

  #pump(): void {
    while (this.#inFlight < this.opts.maxInFlight && this.#queued.length > 0) {
      const batch = this.#queued.shift()!;
      this.#inFlight++;
      this.fn(batch.map((b) => b.item)).then(
        (results) => {
          if (results.length !== batch.length) {
            const e = new Error(`batch function returned ${results.length} results for ${batch.length} items`);
            for (const b of batch) b.reject(e);
          } else batch.forEach((b, i) => b.resolve(results[i]!));
        },
        (e) => {
          for (const b of batch) b.reject(e);
        },
      ).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }
}
