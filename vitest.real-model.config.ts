import { defineConfig } from 'vitest/config';

/**
 * `npm run test:real-model`: gemflow against a real model server (llama-cpp-python serving
 * SmolLM2-135M, both from PyPI; scripts/real-model/real-model.sh). Not part of `npm test`: the first
 * run compiles llama.cpp (~14 min on 2 idle cores, ~30 min loaded); later runs reuse .cache/real-model.
 */
export default defineConfig({
  test: {
    include: ['tests/real-model/**/*.real.ts'],
    testTimeout: 30 * 60_000,
    hookTimeout: 45 * 60_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
