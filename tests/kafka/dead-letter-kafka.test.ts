import { describe, expect, inject, it } from 'vitest';
import { KafkaDeadLetterSink } from '../../src/sinks/dead-letter-kafka.js';
import { consumeRaw, memoryLogger, uniqueName } from './helpers.js';

const brokers = inject('kafkaBrokers');

describe('KafkaDeadLetterSink', () => {
  it('creates the topic and writes the raw records with their failure headers, acknowledged on flush', async () => {
    const topic = uniqueName('dead-letters');
    const sink = new KafkaDeadLetterSink({ brokers, clientId: 'gemflow-test' }, topic, { batchSize: 2, logger: memoryLogger() });
    await sink.write({
      origin: { kind: 'kafka', partition: 'docs/3', offset: 41, topic: 'docs', kafkaPartition: 3 },
      stage: 'decode',
      code: 'invalid_json',
      message: 'record is not valid JSON',
      raw: '{"id": "d1", "text": ',
    });
    await sink.write({
      origin: { kind: 'file', partition: '/data/c.jsonl', offset: 6, file: 'c.jsonl', line: 7 },
      documentId: 'doc-7',
      stage: 'extract',
      code: 'llm_schema_mismatch',
      message: 'output does not match the schema',
      raw: '{"id":"doc-7","text":"hello"}',
    });
    await sink.write({
      origin: { kind: 'kafka', partition: 'docs/0', offset: 0, topic: 'docs', kafkaPartition: 0 },
      documentId: 'doc-0',
      stage: 'validate',
      code: 'unknown_tool',
      message: 'tool "x" is not defined',
      raw: '{"id":"doc-0","text":"é"}',
    });
    await sink.flush();
    await sink.close();

    const received = (await consumeRaw(brokers, topic, 3)).map(({ key, value, headers }) => ({ key, value, headers }));
    expect(received).toEqual([
      {
        key: 'docs/3@41',
        value: '{"id": "d1", "text": ',
        headers: {
          'gemflow-stage': 'decode',
          'gemflow-code': 'invalid_json',
          'gemflow-message': 'record is not valid JSON',
          'gemflow-origin': 'kafka:docs/3@41',
        },
      },
      {
        key: 'doc-7',
        value: '{"id":"doc-7","text":"hello"}',
        headers: {
          'gemflow-stage': 'extract',
          'gemflow-code': 'llm_schema_mismatch',
          'gemflow-message': 'output does not match the schema',
          'gemflow-origin': 'file:c.jsonl:7',
        },
      },
      {
        key: 'doc-0',
        value: '{"id":"doc-0","text":"é"}',
        headers: {
          'gemflow-stage': 'validate',
          'gemflow-code': 'unknown_tool',
          'gemflow-message': 'tool "x" is not defined',
          'gemflow-origin': 'kafka:docs/0@0',
        },
      },
    ]);
  });
});
