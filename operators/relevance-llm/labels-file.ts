import { createHash } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

/** One verdict of the relevance-llm step, as a line of `<stateDir>/relevance-labels.jsonl`. */
export interface RelevanceLabel {
  id: string;
  /** sha256 of the document text (hex): joins the label to its text (`gemflow relevance train --texts`). */
  textHash: string;
  score: number;
  /** score >= the step's threshold. */
  relevant: boolean;
  reason: string;
  step: string;
  promptVersion: string;
  model: string;
}

export function textHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Appends labels to a JSONL file, one write at a time in call order. Replays may append a document
 * again; readers keep the last line per text hash.
 */
export class LabelsFile {
  private tail: Promise<void> = Promise.resolve();
  private ready: Promise<unknown> | undefined;

  constructor(readonly path: string) {}

  append(label: RelevanceLabel): Promise<void> {
    this.ready ??= mkdir(dirname(this.path), { recursive: true });
    const line = JSON.stringify(label) + '\n';
    const next = this.tail.then(async () => {
      await this.ready;
      await appendFile(this.path, line);
    });
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Resolves when every append so far is written. */
  flush(): Promise<void> {
    return this.tail;
  }
}
