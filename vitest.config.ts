import { defineConfig } from 'vitest/config';

// .ci/run sets IRQPATH_TEST_REPORT so that it can print the plain "N passed, N failed" line CI reads,
// while still running the exact test command README gives (`npm test`).
const report = process.env.IRQPATH_TEST_REPORT;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The scenario suite builds 300- and 1024-vCPU machines; give slow CI machines headroom.
    testTimeout: 30_000,
    reporters: report ? ['default', 'json'] : ['default'],
    outputFile: report ? { json: report } : undefined,
  },
});
