/**
 * A Linux boot log read incrementally: text in chunks of any size (a Node stream's, a browser File's, one string),
 * lines split as they complete, each line's prefixes removed (dmesg-lines.ts) and handed to the scan of the boot it
 * belongs to (boot-scan.ts). Nothing else of the text is kept, so memory is bounded by what the scans keep, not by
 * the size of the log; a line longer than {@link MAX_LINE} characters (no kernel prints one; a binary file has them)
 * is cut there.
 *
 * Boots: each "Linux version" line starts one (a journal without -b holds every boot; a serial console, every
 * reboot). Lines before the first belong to the first. Which boots are scanned is chosen up front: the last (the
 * default: every boot is scanned, the one before is dropped when the next starts), one by number (only its lines are
 * scanned), or all of them.
 */
import { UsageError } from '../core/errors.ts';
import { BootScan } from './boot-scan.ts';
import { stripPrefix } from './dmesg-lines.ts';

/** Characters of one line that are read; the rest of a longer line is dropped. */
export const MAX_LINE = 16 * 1024;
/** Boot start lines remembered for messages (a file may hold thousands of boots). */
const STARTS_KEPT = 10;

/** Which boots to read: the last, one by number (1 = the first), or all. */
export type BootChoice = 'last' | 'all' | number;

export interface ReadBoot {
  /** 1-based position in the file. */
  index: number;
  /** Line number of its "Linux version" line (1 for lines before any). */
  line: number;
  scan: BootScan;
}

export interface DmesgReading {
  /** What was asked for. */
  choice: BootChoice;
  /** "Linux version" lines in the file (0: an excerpt without one). */
  boots: number;
  /** Line numbers of the first boots' "Linux version" lines (at most 10) and of the last one. */
  starts: number[];
  lastStart: number;
  /** The boots chosen, in file order. */
  read: ReadBoot[];
  lines: number;
  /** Lines longer than {@link MAX_LINE}, cut. */
  longLines: number;
}

const BOOT_START = /^Linux version \d/;

/** Parse a `--boot` value: a positive integer, "last" or "all". */
export function parseBootChoice(text: string): BootChoice {
  if (text === 'last' || text === 'all') return text;
  if (/^[1-9]\d{0,8}$/.test(text)) return Number(text);
  throw new UsageError(`--boot: expected a boot number (1 is the file's first), last or all, got '${text}'`);
}

export class DmesgReader {
  private partial = '';
  private partialCut = false;
  private lineNo = 0;
  private boots = 0;
  private readonly starts: number[] = [];
  private lastStart = 0;
  private current: ReadBoot | null;
  private readonly kept: ReadBoot[] = [];
  private longLines = 0;

  constructor(private readonly choice: BootChoice = 'last') {
    // Lines before the first boot belong to the first: scanned unless another boot was asked for.
    this.current = choice === 'last' || choice === 'all' || choice === 1 ? { index: 1, line: 1, scan: new BootScan() } : null;
  }

  /** Read a chunk of text (any size; a line may span chunks). */
  push(chunk: string): void {
    let at = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', at);
      if (nl < 0) break;
      this.append(chunk, at, nl);
      this.line(this.partial);
      this.partial = '';
      this.partialCut = false;
      at = nl + 1;
    }
    if (at < chunk.length) this.append(chunk, at, chunk.length);
  }

  private append(chunk: string, from: number, to: number): void {
    if (this.partialCut) return;
    const room = MAX_LINE - this.partial.length;
    if (to - from > room) {
      this.partial += chunk.slice(from, from + room);
      this.partialCut = true;
      this.longLines++;
    } else this.partial += chunk.slice(from, to);
  }

  /** Read one line (without its newline). */
  line(raw: string): void {
    this.lineNo++;
    // A boot not being read costs a substring search per line: only a "Linux version" line can change that.
    if (this.current === null && !raw.includes('Linux version')) return;
    const l = stripPrefix(raw);
    if (l.length === 0) return;
    if (BOOT_START.test(l)) this.startBoot();
    this.current?.scan.line(l);
  }

  private startBoot(): void {
    this.boots++;
    if (this.starts.length < STARTS_KEPT) this.starts.push(this.lineNo);
    this.lastStart = this.lineNo;
    // The first boot goes on in the scan that read the lines before it.
    if (this.boots === 1 && this.current !== null) {
      this.current.line = this.lineNo;
      return;
    }
    // The boot that ends is kept unless only the last is wanted (then the next may be it).
    if (this.current !== null && this.choice !== 'last') this.kept.push(this.current);
    const wanted = this.choice === 'last' || this.choice === 'all' || this.choice === this.boots;
    this.current = wanted ? { index: this.boots, line: this.lineNo, scan: new BootScan() } : null;
  }

  /** The end of the text: the boots read. */
  end(): DmesgReading {
    if (this.partial.length > 0 || this.partialCut) {
      this.line(this.partial);
      this.partial = '';
      this.partialCut = false;
    }
    const read = [...this.kept];
    if (this.current !== null) read.push(this.current);
    this.kept.length = 0;
    this.current = null;
    return { choice: this.choice, boots: this.boots, starts: [...this.starts], lastStart: this.lastStart, read, lines: this.lineNo, longLines: this.longLines };
  }
}
