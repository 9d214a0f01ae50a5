import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSProtocolError } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { isTransientCrash } from '../../src/sources/kafka-source.js';

describe('isTransientCrash (which crashes kafkajs does not restart from the Kafka source restarts itself)', () => {
  it('restarts after losing the group coordinator or a broker connection, as while a broker restarts', () => {
    // What the broker-restart e2e test met under load: kafkajs gave up with restart: false.
    expect(isTransientCrash(new KafkaJSNonRetriableError('Failed to find group coordinator'))).toBe(true);
    expect(isTransientCrash(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092'))).toBe(true);
    expect(isTransientCrash(new KafkaJSProtocolError({ type: 'COORDINATOR_NOT_AVAILABLE', code: 15, retriable: true, message: 'The coordinator is not available' }))).toBe(true);
  });

  it('stays fatal for errors that do not pass by themselves', () => {
    expect(isTransientCrash(new KafkaJSProtocolError({ type: 'TOPIC_AUTHORIZATION_FAILED', code: 29, retriable: false, message: 'Not authorized to access topics' }))).toBe(false);
    expect(isTransientCrash(new KafkaJSNonRetriableError('Invalid offset'))).toBe(false);
    expect(isTransientCrash(new Error('something else'))).toBe(false);
  });
});
