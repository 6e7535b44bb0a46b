/**
 * A Linux boot log as text → the kernel's own lines, one per boot. Accepted around each line: a dmesg timestamp
 * (`[    0.048702] `, with a printk caller field `[    T0] ` after it), syslog/journal prefixes
 * (`May 30 17:32:17 host kernel: `, ISO timestamps), mail quotes (`> `), nothing at all — and, on a serial console,
 * whatever the firmware or the terminal left in front of the first kernel line (SeaBIOS's banner and the
 * `ESC c ESC [ ? 7 l ESC [ 2 J` a QEMU console shows before `[    0.000000] Linux version`).
 */

const SYSLOG = /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ kernel: /;
const ISO_SYSLOG = /^\d{4}-\d\d-\d\dT\S+ \S+ kernel: /;
const STAMP = /^\[\s*\d+\.\d+\] ?/;
/** A dmesg timestamp anywhere in a line (what is before it is not the kernel's). */
const STAMP_ANYWHERE = /\[\s*\d+\.\d{6}\] /;
/** printk's caller field (CONFIG_PRINTK_CALLER): `[    T0]`, `[  C12]`. */
const CALLER = /^\[\s*[TC]\d+\] ?/;
/** Terminal control: CSI sequences (ESC [ ... final byte), two-byte escapes (ESC c, ESC 7, ESC ( B), other C0 bytes. */
// eslint-disable-next-line no-control-regex
const ESCAPES = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[@-Z\\-_a-z0-9=>]|[\x00-\x08\x0b-\x1f\x7f]/g;

/** One log line without its syslog/journal, timestamp, caller and quote prefixes. */
export function stripPrefix(raw: string): string {
  let line = raw.replace(/\r$/, '').replace(ESCAPES, '');
  line = line.replace(/^(> ?)+/, '');
  line = line.replace(SYSLOG, '').replace(ISO_SYSLOG, '');
  if (!STAMP.test(line)) {
    // Console junk in front of the first timestamp (the firmware's last output, a terminal reset).
    const at = line.search(STAMP_ANYWHERE);
    if (at > 0) line = line.slice(at);
  }
  line = line.replace(STAMP, '').replace(CALLER, '');
  return line.replace(/\s+$/, '');
}

export interface BootLines {
  /** The lines of the boot that is read (the last one when there are several), prefixes removed, empty lines dropped. */
  lines: string[];
  /** How many boots the file holds ("Linux version" lines); 0 when it has none. */
  boots: number;
}

/** Split at each "Linux version" line and keep the last boot (a journal without -b holds every boot). */
export function readBootLines(text: string): BootLines {
  const all = text.split('\n').map(stripPrefix).filter((l) => l.length > 0);
  const starts: number[] = [];
  all.forEach((l, i) => {
    if (/^Linux version \d/.test(l)) starts.push(i);
  });
  // One boot: keep everything (an excerpt may quote lines in any order; console junk matches no kernel line).
  if (starts.length <= 1) return { lines: all, boots: starts.length };
  return { lines: all.slice(starts[starts.length - 1]), boots: starts.length };
}
