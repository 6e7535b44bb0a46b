/**
 * What `require('irqpath/testing')` loads (package.json "exports" → "require"); see src/index.cts: the ES module
 * itself where Node can require() one (20.19+, 22.12+), otherwise an Error saying to use import().
 */
try {
  module.exports = require('./testing.js');
} catch (e) {
  if ((e as { code?: string }).code !== 'ERR_REQUIRE_ESM') throw e;
  throw new Error(
    "irqpath/testing is an ES module, which this Node cannot load with require() (Node 20.19+ and 22.12+ can, unless started with --no-experimental-require-module): use `import { runScenarios } from 'irqpath/testing'` in an ES module, or `await import('irqpath/testing')` from CommonJS",
    { cause: e },
  );
}
