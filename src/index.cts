/**
 * What `require('irqpath')` loads (package.json "exports" → "require"). irqpath is an ES module. Node 20.19+ and
 * 22.12+ load an ES module through require() (require(esm)), so CommonJS callers get the library itself; older Node
 * throws ERR_REQUIRE_ESM, which this file turns into a message saying what to write instead.
 */
try {
  module.exports = require('./index.js');
} catch (e) {
  if ((e as { code?: string }).code !== 'ERR_REQUIRE_ESM') throw e;
  throw new Error(
    "irqpath is an ES module, which this Node cannot load with require() (Node 20.19+ and 22.12+ can, unless started with --no-experimental-require-module): use `import { createMachine } from 'irqpath'` in an ES module, or `const irqpath = await import('irqpath')` from CommonJS",
    { cause: e },
  );
}
