import { createHash } from 'node:crypto';
import type { Origin } from '../envelope.js';

/**
 * A trajectory's id: from the document id AND its text, the trajectory's position among the
 * document's and the step that made it, so two records that share an id but not a text (or an id
 * given as 12345 in one and "12345" in another) never share a trajectory id, and a replay of the same
 * record gets the same ids.
 */
export function trajectoryId(documentId: string, text: string, index: number, producer: string): string {
  const textHash = createHash('sha256').update(text).digest('hex');
  return createHash('sha256').update(`${documentId}\u0000${textHash}\u0000${index}\u0000${producer}`).digest('hex').slice(0, 24);
}

/** "file:<path>:<line>" or "kafka:<topic>/<partition>@<offset>". */
export function originString(o: Origin): string {
  return o.kind === 'file' ? `file:${o.file}:${o.line}` : `kafka:${o.topic}/${o.kafkaPartition}@${o.offset}`;
}

/** A deterministic 31-bit seed per (document, step, key): replays render identical requests, so the cache hits. */
export function seedFor(docId: string, stepId: string, key: string): number {
  return createHash('sha256').update(`${docId}\u0000${stepId}\u0000${key}`).digest().readUInt32BE(0) >>> 1;
}
