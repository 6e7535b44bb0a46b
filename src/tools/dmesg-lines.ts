/**
 * A Linux boot-log line → the kernel's own text. Accepted around each line: a dmesg timestamp
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

/** Any C0 control byte or DEL: only a line with one needs {@link ESCAPES} (a streamed log reads every line once). */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/;

/**
 * One log line without its syslog/journal, timestamp, caller and quote prefixes. Each step runs only on a line that
 * can have what it removes (most lines of a long log start with a timestamp and hold no control byte).
 */
export function stripPrefix(raw: string): string {
  let line = CONTROL.test(raw) ? raw.replace(ESCAPES, '') : raw;
  if (line.charCodeAt(0) === 0x3e /* > */) line = line.replace(/^(> ?)+/, '');
  if (line.charCodeAt(0) !== 0x5b /* [ */) line = line.replace(SYSLOG, '').replace(ISO_SYSLOG, '');
  const stamp = STAMP.exec(line);
  if (stamp !== null) line = line.slice(stamp[0].length);
  else {
    // Console junk in front of the first timestamp (the firmware's last output, a terminal reset).
    const at = line.search(STAMP_ANYWHERE);
    if (at > 0) line = line.slice(at).replace(STAMP, '');
  }
  if (line.charCodeAt(0) === 0x5b) line = line.replace(CALLER, '');
  return line.trimEnd();
}
