import { defineConfig } from 'vitest/config';

// .ci/run sets IRQPATH_TEST_REPORT so that it can print the plain "N passed, N failed" line CI reads,
// while still running the exact test command README gives (`npm test`).
const report = process.env.IRQPATH_TEST_REPORT;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The scenario suite builds 300- and 1024-vCPU machines; give slow CI machines headroom.
    testTimeout: 30_000,
    // The suites share no mutable module state (every test builds its own machine), so test files can reuse one
    // module graph per worker: this cuts the suite from ~35 s of repeated imports to a few seconds on 2 cores.
    isolate: false,
    reporters: report ? ['default', 'json'] : ['default'],
    outputFile: report ? { json: report } : undefined,
  },
});
