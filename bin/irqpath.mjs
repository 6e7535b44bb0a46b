#!/usr/bin/env node
// The `irqpath` command (package.json "bin"). The program is the compiled dist/cli/main.js; this launcher is a file
// of its own, kept in git with its executable bit, so the command stays runnable whatever rebuilds dist/ (npx links
// a clone's bin once and keeps the link) and says what to do where dist/ was never built (a fresh clone).
import { existsSync } from 'node:fs';

const program = new URL('../dist/cli/main.js', import.meta.url);
const notBuilt = (what) => {
  process.stderr.write(`irqpath: ${what}: run \`npm run build\` (in a clone of the repository; \`npm start\` and\n\`npm run irqpath -- <command>\` run the sources without a build)\n`);
  process.exit(2);
};
if (!existsSync(program)) notBuilt('the command is not built yet');
const { main } = await import(program.href);
if (typeof main !== 'function') notBuilt('dist/ is from an older build');
await main();
