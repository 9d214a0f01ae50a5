import { setMaxListeners } from 'node:events';
import { EndpointConfig } from '../../../src/config/schema.js';
import type { AdaptiveOptions } from '../../../src/llm/adaptive-controller.js';
import { HttpInferenceClient, type HttpInferenceClientOptions } from '../../../src/llm/client.js';
import type { ChatRequest, ChatResult } from '../../../src/llm/types.js';
import { startSimulator, type SimulatorHandle, type SimulatorStartOptions } from '../../../src/simulator/index.js';

/** Simulators and clients started by a test; `cleanup()` (in afterEach) stops them all. */
export class Harness {
  readonly #sims: SimulatorHandle[] = [];
  readonly #clients: HttpInferenceClient[] = [];
  readonly #loads: Load[] = [];

  async sim(opts: SimulatorStartOptions = {}): Promise<SimulatorHandle> {
    const s = await startSimulator({ replica: this.#sims.length, ...opts });
    this.#sims.push(s);
    return s;
  }

  client(
    sims: SimulatorHandle[],
    opts: Partial<HttpInferenceClientOptions> & { endpoint?: Partial<Omit<EndpointConfig, 'url'>>; adaptiveOptions?: AdaptiveOptions } = {},
  ): HttpInferenceClient {
    const { endpoint, adaptiveOptions, ...rest } = opts;
    const c = new HttpInferenceClient({
      endpoints: sims.map((s) => EndpointConfig.parse({ url: s.url, ...endpoint })),
      timeoutMs: 30_000,
      maxRetries: 4,
      retryBaseMs: 50,
      adaptive: adaptiveOptions ?? true,
      ...rest,
    });
    this.#clients.push(c);
    return c;
  }

  /** Keeps `concurrency` calls outstanding on `client` until stop(). */
  load(client: HttpInferenceClient, concurrency: number): Load {
    const l = new Load(client, concurrency);
    this.#loads.push(l);
    return l;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.#loads.splice(0).map((l) => l.stop()));
    await Promise.all(this.#clients.splice(0).map((c) => c.close()));
    await Promise.all(this.#sims.splice(0).map((s) => s.close()));
  }
}

/** A closed-loop load: each of `concurrency` loops issues one call after another. */
export class Load {
  readonly results: ChatResult[] = [];
  readonly errors: unknown[] = [];
  readonly #stop = new AbortController();
  readonly #loops: Promise<void>[];

  constructor(client: HttpInferenceClient, concurrency: number) {
    setMaxListeners(Infinity, this.#stop.signal);
    this.#loops = Array.from({ length: concurrency }, async (_, i) => {
      for (let n = 0; !this.#stop.signal.aborted; n++) {
        try {
          this.results.push(await client.chat(request(`${i}/${n}`, this.#stop.signal)));
        } catch (e) {
          if (!this.#stop.signal.aborted) this.errors.push(e);
        }
      }
    });
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await Promise.all(this.#loops);
  }
}

/** A short plain chat call (the simulator answers ~24 tokens of text). */
export function request(tag: string, signal?: AbortSignal): ChatRequest {
  return { stage: 'probe', messages: [{ role: 'user', content: `request ${tag}` }], maxTokens: 64, temperature: 0, signal };
}

/** Polls `check` every 50 ms until it is true; fails with `what` after `timeoutMs` (a deadline, not a measurement). */
export async function eventually(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
