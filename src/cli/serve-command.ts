/**
 * `irqpath serve [--port N]`: serve the static web page (dist/web/, built by `npm run build:web`) on the loopback
 * interface and print its URL. The page needs no server beyond this: any static file host works the same.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { UsageError } from '../core/errors.ts';
import { unsignedOption } from './parse-number.ts';
import { writeOut } from './output.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.txt': 'text/plain; charset=utf-8',
};

/** dist/web/ of the package this file belongs to: the nearest ancestor directory holding package.json. */
export function defaultWebDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'dist', 'web');
}

/** Start serving `root` on 127.0.0.1:`port` (0 = any free port). Resolves with the server and its URL. */
export function startWebServer(root: string, port: number): Promise<{ server: Server; url: string }> {
  const base = resolve(root);
  if (!existsSync(join(base, 'index.html'))) throw new UsageError(`${base} holds no built site: run \`npm run build:web\` first`);
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      res.writeHead(400).end();
      return;
    }
    const file = resolve(base, '.' + (path.endsWith('/') ? path + 'index.html' : path));
    // Nothing outside the site directory, whatever the request path says.
    if ((file !== base && !file.startsWith(base + sep)) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' ? new UsageError(`port ${port} is in use: choose another with --port`) : e));
    // Loopback only: the page is for the person at this machine, not the network.
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const actual = typeof address === 'object' && address ? address.port : port;
      resolvePromise({ server, url: `http://127.0.0.1:${actual}/` });
    });
  });
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve the web page (explain a message, run scenarios, the matrix) on 127.0.0.1 and print its URL')
    // The default is shown in --help by its description: commander would JSON.stringify the bigint and throw.
    .addOption(new Option('--port <n>', 'TCP port (0 picks a free one)').argParser(unsignedOption(16)).default(8080n, '8080'))
    .option('--dir <path>', 'the built site (default: dist/web of this package, from `npm run build:web`)')
    .action(async function (this: Command, opts: { port: bigint; dir?: string }) {
      const { url } = await startWebServer(opts.dir ?? defaultWebDir(), Number(opts.port));
      writeOut(this, `irqpath: serving the web page at ${url} (Ctrl-C to stop)\n`);
    });
}
