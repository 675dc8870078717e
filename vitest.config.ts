import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    disableConsoleIntercept: true,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Native kernels use all cores already, so test files run one at a time.
    fileParallelism: false,
  },
});
