/**
 * `npm run record-qemu -- [--out DIR] [--only NAME,...] [--list]`: boots each configuration of configurations.ts in
 * QEMU (TCG) with the host's Debian kernel and a busybox initramfs, and records what test/fixtures/qemu-recordings/
 * README.md describes: the command line, versions, the guest's console split into sections, the interrupt-path trace
 * (full, gzip'd, when small enough, and trimmed), the remapping and MSI-X tables read through the monitor, exit status
 * and wall time. Needs qemu-system-x86_64, a /boot/vmlinuz-* with its /lib/modules tree, and /bin/busybox (static).
 */
import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createGunzip, createGzip, type Gzip } from 'node:zlib';
import { buildInitramfs } from '../../src/cli/qemu/initramfs.ts';
import { amdIommuMmioBase, dumpAmdVi, dumpMsix, dumpVtd } from '../../src/cli/qemu/monitor-dumps.ts';
import { runQemu, shellQuote } from '../../src/cli/qemu/run-qemu.ts';
import { installedInterruptEvents, qemuVersion } from '../../src/cli/qemu/trace-events.ts';
import {
  READY_SECTION,
  SECTION_PREFIX,
  cpuHasX2apic,
  decisionLines,
  parseDmesg,
  parseIrtDump,
  parsePciConfig,
  parseProcInterrupts,
  splitSections,
  type IrtDump,
  type RecordingProvenance,
} from '../../src/tools/qemu-recording.ts';
import { TraceTrimmer } from '../../src/tools/qemu-trace-trim.ts';
import { CONFIGURATIONS, type Configuration } from './configurations.ts';
import { GUEST_MODULES, initScript } from './init-script.ts';

const QEMU = process.env.QEMU ?? 'qemu-system-x86_64';
/** Skips the delay-loop calibration on every CPU (calibrate_delay honours preset_lpj); any plausible value does. */
const LPJ = 'lpj=9781716';
const COMMON_APPEND = ['console=ttyS0', LPJ, 'log_buf_len=4M', 'panic=-1'];
/** A full trace is committed (gzip'd) when it compresses to at most this many bytes. */
const FULL_TRACE_LIMIT = 1_500_000;
/**
 * Traces larger than this are not gzip'd at all: at ~100:1 they would exceed FULL_TRACE_LIMIT anyway, and gzip is
 * the slow part of reading them (a 128-vCPU boot writes 2.4 GB).
 */
const FULL_TRACE_GZIP_MAX_INPUT = 200_000_000;
const TRIM = { requestsPerKey: 20, linesPerBulkEvent: 300 };

function usage(): never {
  console.log(`usage: npm run record-qemu -- [--out DIR] [--only NAME,...] [--list]
  --out DIR     where the recordings go (default test/fixtures/qemu-recordings)
  --only NAMES  record only these configurations (comma-separated)
  --console     pass the guest console through to stdout while recording
  --list        list the configurations and exit
  --retrim      trim trace.log again from trace-full.log.gz in --out (after a change of the trim) and exit
  --table       print the Markdown table of the recordings in --out (for its README) and exit
environment: QEMU (default qemu-system-x86_64), KERNEL (default the /boot/vmlinuz-* with a /lib/modules tree)`);
  process.exit(0);
}

function parseArgs(argv: string[]) {
  let out = 'test/fixtures/qemu-recordings';
  let only: string[] | undefined;
  let list = false;
  let table = false;
  let retrimOnly = false;
  let passConsole = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--out') out = argv[++i]!;
    else if (a === '--only') only = argv[++i]!.split(',');
    else if (a === '--list') list = true;
    else if (a === '--table') table = true;
    else if (a === '--retrim') retrimOnly = true;
    else if (a === '--console') passConsole = true;
    else if (a === '--help' || a === '-h') usage();
    else throw new Error(`unknown argument ${a}`);
  }
  return { out: resolve(out), only, list, table, retrim: retrimOnly, passConsole };
}

function findKernel(): { kernel: string; release: string } {
  if (process.env.KERNEL) {
    const release = process.env.KERNEL.replace(/^.*vmlinuz-/, '');
    return { kernel: process.env.KERNEL, release };
  }
  const found = readdirSync('/boot')
    .filter((f) => f.startsWith('vmlinuz-') && existsSync(join('/lib/modules', f.slice(8), 'modules.dep')))
    .sort();
  if (found.length === 0) throw new Error('no /boot/vmlinuz-* with a /lib/modules tree: install linux-image-amd64');
  const f = found[found.length - 1]!;
  return { kernel: join('/boot', f), release: f.slice(8) };
}

function qemuArgs(c: Configuration, kernel: string, initrd: string, work: string): { args: string[]; append: string } {
  const append = [...COMMON_APPEND, ...(c.append ?? [])].join(' ');
  const args = ['-machine', c.machine ?? 'q35', '-m', c.memory ?? '512M', '-smp', String(c.smp)];
  if (c.cpu) args.push('-cpu', c.cpu);
  args.push('-display', 'none', '-no-reboot', '-serial', 'stdio', '-monitor', 'none');
  args.push('-kernel', kernel, '-initrd', initrd, '-append', append);
  // The vIOMMU first: QEMU wants it created before the devices it translates for.
  if (c.iommu) args.push('-device', c.iommu);
  args.push('-netdev', 'user,id=net0', '-device', 'virtio-net-pci,netdev=net0');
  args.push('-netdev', 'user,id=net1', '-device', 'e1000e,netdev=net1');
  args.push('-drive', `file=${join(work, 'nvme.img')},if=none,id=nvmedisk,format=raw`, '-device', 'nvme,serial=irqpath0,drive=nvmedisk');
  // q35's built-in AHCI (00:1f.2) is bus ide.0..ide.5.
  args.push('-drive', `file=${join(work, 'sata.img')},if=none,id=satadisk,format=raw`, '-device', 'ide-hd,drive=satadisk,bus=ide.0');
  return { args, append };
}

/** Reads the vIOMMU and MSI-X tables when the guest is ready (see src/cli/qemu/monitor-dumps.ts). */
function monitorAction(outDir: string, work: string, dump: { value?: IrtDump }) {
  return async (qmp: Parameters<typeof dumpVtd>[0], consoleSoFar: string) => {
    const sections = splitSections(consoleSoFar);
    const configs = parsePciConfig(sections.get('pci-config') ?? '');
    const d: IrtDump = { method: '', errors: [] };
    const methods: string[] = [];
    const dmesg = parseDmesg(sections.get('dmesg') ?? '');
    // Linux's dmar_parse_one_drhd prints the unit's register base.
    const drhd = dmesg.map((l) => /^DMAR: DRHD base: (0x[0-9a-f]+)/.exec(l.text)).find(Boolean);
    if (drhd) {
      try {
        d.intel = await dumpVtd(qmp, work, BigInt(drhd[1]!));
        methods.push(`VT-d: IRTA register read with HMP 'xp /1gx ${drhd[1]}+0xb8' (DRHD base from dmesg), table saved with QMP pmemsave`);
      } catch (e) {
        d.errors!.push(`VT-d: ${String(e)}`);
      }
    }
    const amdBase = amdIommuMmioBase(configs);
    if (amdBase !== undefined) {
      try {
        d.amd = await dumpAmdVi(qmp, work, amdBase);
        methods.push('AMD-Vi: Device Table Base and Control registers read with HMP xp at the MMIO base from the IOMMU capability block in PCI config space; device table and each remapped DTE interrupt table saved with QMP pmemsave');
      } catch (e) {
        d.errors!.push(`AMD-Vi: ${String(e)}`);
      }
    }
    try {
      d.msix = await dumpMsix(qmp, configs);
      methods.push("MSI-X: each table read with HMP 'xp /Nwx' at BAR (sysfs resource) + table offset (capability)");
    } catch (e) {
      d.errors!.push(`MSI-X: ${String(e)}`);
    }
    d.method = methods.join('; ');
    if (d.errors!.length === 0) delete d.errors;
    dump.value = d;
    writeFileSync(join(outDir, 'monitor-info-pic.txt'), (await qmp.hmp('info pic')).replace(/\r/g, ''));
    writeFileSync(join(outDir, 'monitor-info-pci.txt'), (await qmp.hmp('info pci')).replace(/\r/g, ''));
  };
}

/**
 * Writes trace.log — the whole trace, or the trim of src/tools/qemu-trace-trim.ts — from a stream of the trace, line
 * by line (a 128-vCPU boot writes gigabytes), and, when `full` is 'gzip', the whole trace gzip'd as
 * trace-full.log.gz, given up as soon as it grows past FULL_TRACE_LIMIT ('too-large': not tried; 'exists': kept as is). Returns the provenance's `trace` and the files written.
 */
async function writeTraces(input: Readable, outDir: string, full: 'gzip' | 'too-large' | 'exists'): Promise<{ trace: RecordingProvenance['trace']; files: string[] }> {
  const out = createWriteStream(join(outDir, 'trace.log'));
  const gzPath = join(outDir, 'trace-full.log.gz');
  let gz: Gzip | undefined;
  let gzDone: Promise<unknown> = Promise.resolve();
  let gzBytes = 0;
  const gzipFull = full === 'gzip';
  if (gzipFull) {
    gz = createGzip({ level: 6 });
    gz.on('data', (chunk: Buffer) => (gzBytes += chunk.length));
    const file = createWriteStream(gzPath);
    gz.pipe(file);
    gzDone = once(file, 'close');
  }
  const trimmer = new TraceTrimmer(TRIM, (line) => out.write(line + '\n'));
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    trimmer.push(line);
    if (gz && gzBytes > FULL_TRACE_LIMIT) {
      gz.end();
      gz = undefined;
    }
    if (gz && !gz.write(line + '\n')) await once(gz, 'drain');
  }
  const r = trimmer.end();
  // trace.log was written as it was read: when nothing was dropped it is the whole trace.
  gz?.end();
  await gzDone;
  out.end();
  await once(out, 'close');
  const files = ['trace.log'];
  const keepGz = gzipFull && r.dropped.length > 0 && gzBytes <= FULL_TRACE_LIMIT;
  if (gzipFull && !keepGz) rmSync(gzPath, { force: true });
  if (r.dropped.length === 0) return { trace: { full: 'trace.log', lines: r.lines }, files };
  const trace: RecordingProvenance['trace'] = { trimmed: 'trace.log', lines: r.lines, keptLines: r.keptLines };
  if (keepGz) {
    trace.full = 'trace-full.log.gz';
    files.push('trace-full.log.gz');
  }
  trace.dropped = [`trim of src/tools/qemu-trace-trim.ts with requestsPerKey ${TRIM.requestsPerKey}, linesPerBulkEvent ${TRIM.linesPerBulkEvent}:`, ...r.dropped];
  if (full === 'too-large') trace.dropped.push(`the whole trace is not kept: larger than ${FULL_TRACE_GZIP_MAX_INPUT} bytes, it was not gzip'd`);
  else if (full === 'gzip' && !keepGz) trace.dropped.push(`the whole trace is not kept: gzip'd it exceeds ${FULL_TRACE_LIMIT} bytes`);
  return { trace, files };
}

/** Trims trace.log again from trace-full.log.gz (after a change of the trim), updating provenance.json. */
async function retrim(dirPath: string): Promise<boolean> {
  const full = join(dirPath, 'trace-full.log.gz');
  if (!existsSync(full)) return false;
  const p = JSON.parse(readFileSync(join(dirPath, 'provenance.json'), 'utf8')) as RecordingProvenance;
  p.trace = (await writeTraces(createReadStream(full).pipe(createGunzip()), dirPath, 'exists')).trace;
  p.trace.full = 'trace-full.log.gz';
  writeFileSync(join(dirPath, 'provenance.json'), JSON.stringify(p, null, 2) + '\n');
  return true;
}

const SECTION_FILES: Record<string, string> = {
  uname: 'uname.txt',
  cmdline: 'cmdline.txt',
  'cpuinfo-flags': 'cpuinfo-flags.txt',
  interrupts: 'interrupts.txt',
  'irq-affinity': 'irq-affinity.txt',
  'reserved-regions': 'reserved-regions.txt',
  'pci-devices': 'pci-devices.txt',
  'pci-config': 'pci-config.txt',
  dmesg: 'dmesg.txt',
};

async function record(c: Configuration, ctx: { outRoot: string; kernel: string; initrd: string; events: string[]; version: string; passConsole: boolean }): Promise<RecordingProvenance> {
  const outDir = join(ctx.outRoot, c.name);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  // A short path: the QMP socket's name must fit sockaddr_un.
  const work = mkdtempSync(join(tmpdir(), 'irqrec-'));
  writeFileSync(join(work, 'nvme.img'), Buffer.alloc(1 << 20));
  writeFileSync(join(work, 'sata.img'), Buffer.alloc(1 << 20));
  const { args, append } = qemuArgs(c, ctx.kernel, ctx.initrd, work);
  const dump: { value?: IrtDump } = {};
  process.stdout.write(`${c.name}: ${c.description} … `);
  const r = await runQemu({
    qemu: QEMU,
    args,
    traceEvents: ctx.events,
    dir: work,
    ...(ctx.passConsole ? { onConsole: (text: string) => process.stdout.write(text) } : {}),
    timeoutMs: c.timeoutMs ?? 600_000,
    onMarker: { marker: `${SECTION_PREFIX}${READY_SECTION} ===`, action: monitorAction(outDir, work, dump), reply: 'go\n' },
  });
  const consoleText = r.console.replace(/\r/g, '');
  const sections = splitSections(consoleText);
  const booted = sections.has(READY_SECTION);
  // Refused: QEMU ran, said why on stderr and exited before the guest printed anything.
  const refused = !r.spawnError && !r.timedOut && r.exitCode !== 0 && consoleText.trim() === '' && r.stderr.trim() !== '';
  const outcome: RecordingProvenance['outcome'] = booted ? 'booted' : refused ? 'refused' : 'failed';
  const files: string[] = [];
  const write = (name: string, data: string | Buffer) => {
    writeFileSync(join(outDir, name), data);
    files.push(name);
  };
  if (consoleText) write('console.txt', consoleText);
  for (const [section, fileName] of Object.entries(SECTION_FILES)) if (sections.has(section)) write(fileName, sections.get(section)! + '\n');
  if (dump.value) write('irt.json', JSON.stringify(dump.value, null, 1) + '\n');
  for (const f of ['monitor-info-pic.txt', 'monitor-info-pci.txt']) if (existsSync(join(outDir, f))) files.push(f);
  write('trace-events.txt', readFileSync(join(work, 'trace-events.txt')));
  let trace: RecordingProvenance['trace'] = { lines: 0 };
  if (existsSync(r.traceFile) && statSync(r.traceFile).size > 0) {
    const written = await writeTraces(createReadStream(r.traceFile), outDir, statSync(r.traceFile).size <= FULL_TRACE_GZIP_MAX_INPUT ? 'gzip' : 'too-large');
    trace = written.trace;
    files.push(...written.files);
  }
  // Scratch paths are named, not kept: $WORK holds the disk images, trace and QMP socket, $INITRD the initramfs.
  const anonymize = (a: string) => a.split(work).join('$WORK').split(ctx.initrd).join('$INITRD');
  const notes: string[] = [];
  if (r.markerError) notes.push(`monitor dump failed: ${r.markerError}`);
  if (booted && !dump.value) notes.push('the ready marker was seen but no monitor dump was written');
  if (r.timedOut) {
    const last = parseDmesg(sections.get('boot') ?? '').pop();
    notes.push(`killed after ${Math.round(r.wallMs / 1000)} s without reaching the ready marker${last ? `; the last console line: ${last.time !== undefined ? `[${last.time}] ` : ''}${last.text}` : ''}`);
  }
  const provenance: RecordingProvenance = {
    name: c.name,
    description: c.description,
    date: new Date().toISOString(),
    qemuVersion: ctx.version,
    kernel: sections.get('uname')?.trim() ?? null,
    argv: r.argv.map(anonymize),
    shell: shellQuote(r.argv.map(anonymize)),
    append,
    exitCode: r.exitCode,
    signal: r.signal,
    timedOut: r.timedOut,
    wallSeconds: Math.round(r.wallMs / 100) / 10,
    stderr: r.stderr + (r.spawnError ? `(spawn: ${r.spawnError})\n` : ''),
    outcome,
    traceEvents: ctx.events.length,
    trace,
    files: [...files, 'provenance.json'].sort(),
    guestModules: [...GUEST_MODULES],
    netUp: true,
  };
  if (notes.length) provenance.notes = notes;
  writeFileSync(join(outDir, 'provenance.json'), JSON.stringify(provenance, null, 2) + '\n');
  rmSync(work, { recursive: true, force: true });
  console.log(`${outcome} in ${provenance.wallSeconds} s${r.stderr ? ` — ${r.stderr.trim().split('\n')[0]}` : ''}${r.spawnError ? ` — ${r.spawnError}` : ''}`);
  return provenance;
}

/** QEMU's stderr for a table cell: each distinct line once (one warning per vCPU otherwise), warnings counted. */
function describeStderr(stderr: string): string {
  const unique = [...new Set(stderr.split('\n').map((l) => l.trim().replace(/^qemu-system-x86_64: /, '')).filter(Boolean))];
  if (unique.length === 0) return 'accepted';
  const warnings = unique.filter((l) => l.startsWith('warning: '));
  if (warnings.length === unique.length && warnings.length > 2) return `accepted, ${warnings.length} warnings (\`${warnings[0]}\` …)`;
  return unique.map((l) => '`' + l + '`').join('<br>');
}

/** One row per recording: what QEMU said, whether it booted, what Linux decided, what was read through the monitor. */
function summaryTable(outRoot: string): string {
  const rows = ['| recording | QEMU | boot (wall s) | remapping / APIC decisions printed | x2apic flag | IRQs | IRTEs / DTEs read |', '|---|---|---|---|---|---|---|'];
  for (const c of CONFIGURATIONS) {
    const dirPath = join(outRoot, c.name);
    if (!existsSync(join(dirPath, 'provenance.json'))) continue;
    const p = JSON.parse(readFileSync(join(dirPath, 'provenance.json'), 'utf8')) as RecordingProvenance;
    const opt = [c.iommu ? `-device ${c.iommu}` : 'no vIOMMU', c.cpu ? `-cpu ${c.cpu}` : '', c.machine && c.machine !== 'q35' ? `-machine ${c.machine}` : '', `-smp ${c.smp}`, c.append ? `kernel ${c.append.join(' ')}` : ''];
    const said = describeStderr(p.stderr);
    const read = (f: string) => (existsSync(join(dirPath, f)) ? readFileSync(join(dirPath, f), 'utf8') : '');
    if (p.outcome !== 'booted') {
      // A boot that did not finish still printed its decisions on the console.
      const early = decisionLines(splitSections(read('console.txt')).get('boot') ?? '').filter((l) => !/IOMMUv2 functionality not available/.test(l));
      const how = p.outcome === 'failed' ? `failed (${p.timedOut ? `killed after ${p.wallSeconds}` : `exit ${p.exitCode}`})` : p.outcome;
      rows.push(`| \`${c.name}\` (${opt.filter(Boolean).join(', ')}) | ${said} | ${how} | ${early.map((d) => '`' + d + '`').join('<br>')} | | | |`);
      continue;
    }
    const decisions = decisionLines(read('dmesg.txt')).filter((l) => !/IOMMUv2 functionality not available/.test(l));
    const irqs = parseProcInterrupts(read('interrupts.txt')).rows.filter((r) => /^\d+$/.test(r.irq));
    const chips = [...new Set(irqs.map((r) => r.chip))].join(', ');
    const dump = read('irt.json') ? parseIrtDump(read('irt.json')) : undefined;
    const tables = [
      dump?.intel ? `${Object.keys(dump.intel.irte).length} IRTEs` : '',
      dump?.amd ? `${Object.keys(dump.amd.dte).length} DTEs, ${Object.values(dump.amd.interruptTables).reduce((n, t) => n + Object.keys(t.irte).length, 0)} IRTEs` : '',
    ].filter(Boolean);
    rows.push(
      `| \`${c.name}\` (${opt.filter(Boolean).join(', ')}) | ${said} | yes (${p.wallSeconds}) | ${decisions.map((d) => '`' + d + '`').join('<br>') || '—'} | ${cpuHasX2apic(read('cpuinfo-flags.txt')) ? 'yes' : 'no'} | ${irqs.length} (${chips}) | ${tables.join('; ') || '—'} |`,
    );
  }
  return rows.join('\n');
}

async function main() {
  const { out, only, list, table, retrim: retrimOnly, passConsole } = parseArgs(process.argv.slice(2));
  if (retrimOnly) {
    for (const c of CONFIGURATIONS)
      if ((!only || only.includes(c.name)) && existsSync(join(out, c.name))) console.log(`${c.name}: ${(await retrim(join(out, c.name))) ? 'trimmed again' : 'no trace-full.log.gz'}`);
    return;
  }
  if (table) {
    console.log(summaryTable(out));
    return;
  }
  if (list) {
    for (const c of CONFIGURATIONS) console.log(`${c.name.padEnd(26)} ${c.description}`);
    return;
  }
  const selected = only ? CONFIGURATIONS.filter((c) => only.includes(c.name)) : CONFIGURATIONS;
  const unknown = (only ?? []).filter((n) => !CONFIGURATIONS.some((c) => c.name === n));
  if (unknown.length) throw new Error(`unknown configuration ${unknown.join(', ')} (see --list)`);
  const { kernel, release } = findKernel();
  const version = qemuVersion(QEMU);
  const events = installedInterruptEvents(QEMU);
  console.log(`${version}; kernel ${kernel}; ${events.length} interrupt-path trace events`);
  const scratch = mkdtempSync(join(tmpdir(), 'irqrec-initrd-'));
  const initrd = join(scratch, 'initrd.gz');
  const built = buildInitramfs({ busybox: '/bin/busybox', kernelRelease: release, modules: GUEST_MODULES, init: initScript() });
  writeFileSync(initrd, built.image);
  console.log(`initramfs: ${built.image.length} bytes, modules ${built.modules.map((m) => m.split('/').pop()).join(' ')}`);
  mkdirSync(out, { recursive: true });
  for (const c of selected) await record(c, { outRoot: out, kernel, initrd, events, version, passConsole });
  rmSync(scratch, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(2);
});
