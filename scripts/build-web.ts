/**
 * `npm run build:web`: the static site in dist/web/ — index.html, style.css, one bundle of the page and the library,
 * and the sweep view's worker (the library alone) (esbuild, browser platform: a Node built-in anywhere in the graph
 * fails the build). Plain files: serve them with `irqpath serve` or from any static host.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const WEB_OUT_DIR = join(root, 'dist/web');

export async function buildWeb(outdir = WEB_OUT_DIR): Promise<{ bytes: number }> {
  mkdirSync(outdir, { recursive: true });
  const bundle = (entry: string, out: string) =>
    build({
      entryPoints: [join(root, 'src/web', entry)],
      outfile: join(outdir, out),
      bundle: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      minify: true,
      sourcemap: false,
      legalComments: 'linked',
      metafile: true,
      logLevel: 'warning',
    });
  const results = [await bundle('main.ts', 'app.js'), await bundle('sweep-worker.ts', 'sweep-worker.js')];
  for (const f of ['index.html', 'style.css']) copyFileSync(join(root, 'src/web', f), join(outdir, f));
  const bytes = results.flatMap((r) => Object.values(r.metafile.outputs)).reduce((n, o) => n + o.bytes, 0);
  return { bytes };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  const { bytes } = await buildWeb();
  console.log(`built ${WEB_OUT_DIR} (${(bytes / 1024).toFixed(0)} KiB incl. source map) in ${(performance.now() - started).toFixed(0)} ms`);
}
