import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin, ITopicConfig } from 'kafkajs';
import { errorMessage, GemflowError } from '../errors.js';

/** Metadata errors a topic shows while it is being created (KRaft publishes it broker by broker). */
const SETTLING = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE', 'NOT_LEADER_OR_FOLLOWER', 'NOT_LEADER_FOR_PARTITION']);

/**
 * Creates a topic (a no-op when it exists) and returns once every partition has a leader.
 *
 * Not kafkajs' `waitForLeaders`: it retries only LEADER_NOT_AVAILABLE, and a KRaft broker can first
 * answer UNKNOWN_TOPIC_OR_PARTITION ("This server does not host this topic-partition") for a topic it
 * has just created (its metadata image is published before the partitions are), which kafkajs throws.
 * This polls the topic's metadata until every partition names a leader, treating those errors as
 * "not yet", for at most `timeoutMs`.
 */
export async function createTopicAndWait(admin: Admin, topic: ITopicConfig, timeoutMs = 60_000): Promise<void> {
  await admin.createTopics({ topics: [topic], waitForLeaders: false });
  const deadline = Date.now() + timeoutMs;
  let last = 'no metadata yet';
  for (let delay = 50; ; delay = Math.min(delay * 2, 1_000)) {
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic.topic] });
      const partitions = topics[0]?.partitions ?? [];
      const leaderless = partitions.filter((p) => p.leader < 0).length;
      if (partitions.length > 0 && leaderless === 0) return;
      last = partitions.length === 0 ? 'no partitions in the metadata yet' : `${leaderless} of ${partitions.length} partitions without a leader`;
    } catch (e) {
      if (!settling(e)) throw e;
      last = errorMessage(e);
    }
    if (Date.now() >= deadline) {
      throw new GemflowError('kafka_topic_not_ready', `topic ${topic.topic} was created but its partitions have no leader after ${timeoutMs} ms (last: ${last})`, { retriable: true });
    }
    await sleep(delay);
  }
}

/** The error, or what kafkajs' retrier wrapped (`originalError`, `cause`), is one of SETTLING. */
function settling(e: unknown): boolean {
  for (let x = e, depth = 0; x !== null && typeof x === 'object' && depth < 5; depth++) {
    const { type, originalError, cause } = x as { type?: unknown; originalError?: unknown; cause?: unknown };
    if (typeof type === 'string' && SETTLING.has(type)) return true;
    x = originalError ?? cause;
  }
  return false;
}
