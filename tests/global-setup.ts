import type { TestProject } from 'vitest/node';
import { startBroker } from '../src/kafka/broker.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Bootstrap servers of the run's Kafka broker; tests read it with inject('kafkaBrokers'). */
    kafkaBrokers: string[];
  }
}

/**
 * vitest globalSetup: one single-node Kafka broker (scripts/kafka/kafka.sh) for the whole run,
 * stopped at teardown. GEMFLOW_KAFKA_BROKERS=host:port[,...] uses an existing cluster instead.
 * Tests must create their own uniquely named topics (auto-creation is off).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.GEMFLOW_KAFKA_BROKERS?.trim();
  if (external) {
    project.provide('kafkaBrokers', external.split(','));
    return async () => {};
  }
  const broker = await startBroker({ nodes: 1 });
  project.provide('kafkaBrokers', broker.bootstrap);
  return () => broker.stop();
}
