/**
 * A gzip'd newc cpio initramfs built in Node: the kernel unpacks it into rootfs before running /init
 * (Linux's populate_rootfs / unpack_to_rootfs accept the "070701" newc format, compressed or not).
 * It holds /bin/busybox with its applet links, the /init script, and the host kernel's own modules for the
 * recorded devices with everything modules.dep says they need, so busybox's modprobe loads them in order.
 */
import { readFileSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, dirname } from 'node:path';

export interface CpioEntry {
  path: string; // without a leading slash
  mode: number; // including the type bits (0o040000 directory, 0o100000 file, 0o120000 symlink)
  data?: Uint8Array | string;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

export const dir = (path: string): CpioEntry => ({ path, mode: S_IFDIR | 0o755 });
export const file = (path: string, data: Uint8Array | string, perm = 0o644): CpioEntry => ({ path, mode: S_IFREG | perm, data });
export const symlink = (path: string, target: string): CpioEntry => ({ path, mode: S_IFLNK | 0o777, data: target });

const hex8 = (n: number) => n.toString(16).padStart(8, '0');
const pad4 = (n: number) => (4 - (n % 4)) % 4;

/** The newc archive: a 110-byte ASCII header per entry, name and data each padded to 4 bytes, then TRAILER!!!. */
export function newcArchive(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const push = (e: CpioEntry) => {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    const name = Buffer.from(e.path + '\0');
    const isDir = (e.mode & 0o170000) === S_IFDIR;
    const fields = [ino++, e.mode, 0, 0, isDir ? 2 : 1, 0, data.length, 0, 0, 0, 0, name.length, 0];
    const header = Buffer.from('070701' + fields.map(hex8).join(''), 'ascii');
    parts.push(header, name, Buffer.alloc(pad4(header.length + name.length)), data, Buffer.alloc(pad4(data.length)));
  };
  for (const e of entries) push(e);
  push({ path: 'TRAILER!!!', mode: 0 });
  return Buffer.concat(parts);
}

/**
 * modules.dep lines are `path: dep dep …` with paths relative to /lib/modules/<release>; returns the named modules
 * (by module name, `-` and `_` alike, as modprobe treats them) and the closure of their dependencies.
 */
export function moduleClosure(modulesDep: string, names: readonly string[]): string[] {
  const deps = new Map<string, string[]>();
  const byName = new Map<string, string>();
  for (const line of modulesDep.split('\n')) {
    const m = /^([^:]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const path = m[1]!;
    deps.set(path, m[2]!.split(/\s+/).filter(Boolean));
    byName.set(moduleName(path), path);
  }
  const out = new Set<string>();
  const visit = (path: string) => {
    if (out.has(path)) return;
    out.add(path);
    for (const d of deps.get(path) ?? []) visit(d);
  };
  for (const n of names) {
    const path = byName.get(n.replace(/-/g, '_'));
    if (!path) throw new Error(`module ${n} is not in modules.dep`);
    visit(path);
  }
  return [...out].sort();
}

const moduleName = (path: string) =>
  path
    .split('/')
    .pop()!
    .replace(/\.ko(\.(xz|gz|zst))?$/, '')
    .replace(/-/g, '_');

export interface InitramfsOptions {
  busybox: string; // path of a statically linked busybox
  kernelRelease: string; // e.g. 6.1.0-57-amd64
  modules: readonly string[]; // module names to include with their dependencies
  init: string; // the /init shell script
  modulesRoot?: string; // default /lib/modules
}

export interface BuiltInitramfs {
  image: Buffer; // gzip'd cpio
  modules: string[]; // module paths included, relative to /lib/modules/<release>
}

/** Builds the image. Compressed modules (.ko.xz, .ko.zst) are refused rather than shipped: busybox modprobe would need their decompressor. */
export function buildInitramfs(o: InitramfsOptions): BuiltInitramfs {
  const root = join(o.modulesRoot ?? '/lib/modules', o.kernelRelease);
  const depText = readFileSync(join(root, 'modules.dep'), 'utf8');
  const modules = moduleClosure(depText, o.modules);
  const entries: CpioEntry[] = [dir('bin'), dir('sbin'), dir('dev'), dir('proc'), dir('sys'), dir('tmp'), dir('etc'), dir('lib'), dir('lib/modules')];
  entries.push(file('bin/busybox', readFileSync(o.busybox), 0o755));
  // Links for the applets /init names; Debian's busybox-static sh also runs applets without links (FEATURE_SH_STANDALONE).
  for (const applet of ['sh', 'mount', 'modprobe', 'insmod', 'cat', 'ls', 'dmesg', 'sleep', 'ip', 'dd', 'poweroff', 'echo', 'uname', 'od', 'grep', 'head', 'find', 'mkdir', 'readlink', 'basename'])
    entries.push(symlink(`bin/${applet}`, 'busybox'));
  entries.push(symlink('sbin/modprobe', '../bin/busybox'), symlink('sbin/poweroff', '../bin/busybox'));
  const base = `lib/modules/${o.kernelRelease}`;
  entries.push(dir(base));
  const dirs = new Set<string>();
  for (const m of modules) {
    if (!m.endsWith('.ko')) throw new Error(`${m}: compressed modules are not supported by this builder`);
    for (let d = dirname(m); d !== '.' && !dirs.has(d); d = dirname(d)) dirs.add(d);
  }
  for (const d of [...dirs].sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b))) entries.push(dir(`${base}/${d}`));
  for (const m of modules) entries.push(file(`${base}/${m}`, readFileSync(join(root, m))));
  // Only the lines of the included modules, so modprobe resolves exactly what is shipped.
  const keep = new Set(modules);
  const dep = depText
    .split('\n')
    .filter((l) => keep.has(l.split(':')[0]!))
    .join('\n');
  entries.push(file(`${base}/modules.dep`, dep + '\n'));
  for (const extra of ['modules.builtin', 'modules.order'])
    if (existsSync(join(root, extra))) entries.push(file(`${base}/${extra}`, readFileSync(join(root, extra))));
  entries.push(file('init', o.init, 0o755));
  return { image: gzipSync(newcArchive(entries), { level: 6 }), modules };
}
