import { hash } from 'node:crypto';
import type { Origin } from '../envelope.js';

/**
 * A trajectory's id: from the document id AND its text, the trajectory's position among the
 * document's and the step that made it, so two records that share an id but not a text (or an id
 * given as 12345 in one and "12345" in another) never share a trajectory id, and a replay of the same
 * record gets the same ids.
 */
export function trajectoryId(doc: { readonly id: string; readonly text: string }, index: number, producer: string): string {
  return hash('sha256', `${doc.id}\u0000${textSha256(doc)}\u0000${index}\u0000${producer}`, 'hex').slice(0, 24);
}

/** The hex SHA-256 of a document's text, computed once per document object (every trajectory of it asks). */
const textHashes = new WeakMap<object, string>();
function textSha256(doc: { readonly text: string }): string {
  let h = textHashes.get(doc);
  if (h === undefined) textHashes.set(doc, (h = hash('sha256', doc.text, 'hex')));
  return h;
}

/** "file:<path>:<line>" or "kafka:<topic>/<partition>@<offset>". */
export function originString(o: Origin): string {
  return o.kind === 'file' ? `file:${o.file}:${o.line}` : `kafka:${o.topic}/${o.kafkaPartition}@${o.offset}`;
}

/** A deterministic 31-bit seed per (document, step, key): replays render identical requests, so the cache hits. */
export function seedFor(docId: string, stepId: string, key: string): number {
  return hash('sha256', `${docId}\u0000${stepId}\u0000${key}`, 'buffer').readUInt32BE(0) >>> 1;
}
