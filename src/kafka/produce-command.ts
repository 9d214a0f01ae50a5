import { createLogger } from '../telemetry/logger.js';
import { produceCorpus, type ProduceProgress } from './produce.js';

export interface RunProduceOptions {
  file: string;
  topic: string;
  brokers: string[];
  /** Partitions of the topic when it has to be created (default 1); an existing topic is used as is. */
  partitions?: number;
  idField: string;
}

export interface ProduceIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** How often the progress line is redrawn on a terminal. */
const PROGRESS_INTERVAL_MS = 200;

/**
 * `gemflow produce <file> --topic T`: creates the topic when missing, loads the corpus, shows a
 * progress line on a terminal and prints a summary. Ctrl-C stops after the batch in flight.
 * Returns the exit code (0, or 2 when interrupted); failures throw GemflowError (the CLI prints them).
 */
export async function runProduce(opts: RunProduceOptions, io: ProduceIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.once('SIGINT', onSigint);
  let lastDraw = 0;
  const draw = (p: ProduceProgress) => {
    const now = Date.now();
    if (!io.stderr.isTTY || now - lastDraw < PROGRESS_INTERVAL_MS) return;
    lastDraw = now;
    const pct = p.totalBytes > 0 ? Math.floor((100 * p.bytesRead) / p.totalBytes) : 100;
    io.stderr.write(`\rproduced ${p.sent} documents (${pct}% of input, ${p.skipped} skipped)`);
  };
  try {
    const result = await produceCorpus({
      file: opts.file,
      topic: opts.topic,
      brokers: opts.brokers,
      createTopic: true,
      partitions: opts.partitions,
      idField: opts.idField,
      onProgress: draw,
      signal: ac.signal,
      logger: createLogger({ write: (line) => io.stderr.write(line + '\n') }),
    });
    if (lastDraw > 0) io.stderr.write('\n');
    const interrupted = ac.signal.aborted;
    io.stdout.write(`produced ${result.sent} documents to ${opts.topic}, ${result.skipped} skipped${interrupted ? ' (interrupted)' : ''}\n`);
    return interrupted ? 2 : 0;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
