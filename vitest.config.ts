import { defineConfig } from 'vitest/config';
import { LongestFirstSequencer } from './tests/sequencer.js';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // One real Kafka broker (KRaft, from Maven Central jars) for the whole run: scripts/kafka/kafka.sh.
    globalSetup: ['tests/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    // Longest files first (tests/file-durations.json), so that the short ones fill the end on both workers.
    sequence: { sequencer: LongestFirstSequencer },
  },
});
