/**
 * `irqpath decode --addr <n> --data <n> [--json]`: show how every MSI format reads one address/data pair and whether
 * bare-metal hardware treats the write as an interrupt (see src/msi/explain.ts).
 */
import type { Command } from 'commander';
import type { Explanation, ExplainedFormats, ReadingInfo } from '../msi/explain.ts';
import { explain } from '../msi/explain.ts';
import { formatAddr } from '../msi/formats/field-check.ts';
import { hex } from '../msi/interrupt.ts';
import { unsignedOption } from './parse-number.ts';
import { writeOut } from './output.ts';

interface DecodeOptions {
  addr: bigint;
  data: bigint;
  json?: boolean;
}

const EXAMPLES = `
Numbers are hex (0x...) or decimal; '_' separators are allowed (0x1000_fee4_6000).

Examples:
  irqpath decode --addr 0xfee01000 --data 0x4031      compatibility: dest 0x01, vector 0x31
  irqpath decode --addr 0xfee00578 --data 0           Intel remappable, IRTE index 43
  irqpath decode --addr 0x1000fee46000 --data 0x700   Xen PIRQ 4166
  irqpath decode --addr 0x123fee45000 --data 0x31 --json`;

/** Order and row labels of the side-by-side table. */
const ROWS: (keyof ExplainedFormats)[] = ['compat', 'intelRemappable', 'amdRemappable', 'extDestId', 'xenPirq', 'kvmX2apicApi', 'windowsHighBits'];

export function registerDecodeCommand(program: Command): Command {
  return program
    .command('decode')
    .description('show how each MSI format reads an address/data pair, and whether hardware treats it as an interrupt')
    .requiredOption('--addr <n>', 'MSI address (up to 64 bits)', unsignedOption(64))
    .requiredOption('--data <n>', 'MSI data (up to 32 bits)', unsignedOption(32))
    .option('--json', 'print exactly one JSON object instead of a table')
    .addHelpText('after', EXAMPLES)
    .action(function (this: Command, options: DecodeOptions) {
      const explanation = explain(options.addr, Number(options.data));
      writeOut(this, options.json ? `${JSON.stringify(explanationJson(explanation))}\n` : renderTable(explanation));
    });
}

/** The `--json` object: every field a JSON number/string/boolean (the 64-bit address as a hex string). */
export function explanationJson(explanation: Explanation): Record<string, unknown> {
  return {
    interrupt: explanation.interrupt,
    verdict: explanation.verdict,
    addr: '0x' + explanation.addr.toString(16), // plain hex: BigInt() and JSON readers parse it (the table keeps the _ separator)
    data: explanation.data,
    formats: explanation.formats,
  };
}

/** The readable side-by-side table. */
export function renderTable(explanation: Explanation): string {
  const rows = ROWS.map((key) => explanation.formats[key]).filter((reading): reading is NonNullable<typeof reading> => reading !== undefined);
  const nameWidth = Math.max('FORMAT'.length, ...rows.map((r) => r.name.length)) + 2;
  const appliesWidth = 'APPLIES'.length + 2;
  const indent = ' '.repeat(nameWidth + appliesWidth);
  const lines = [
    `addr ${formatAddr(explanation.addr)}  data ${hex(explanation.data, 8)}`,
    `${explanation.interrupt ? 'INTERRUPT' : 'MEMORY WRITE'}: ${explanation.verdict}`,
    '',
    'FORMAT'.padEnd(nameWidth) + 'APPLIES'.padEnd(appliesWidth) + 'READING',
  ];
  for (const reading of rows) {
    lines.push(reading.name.padEnd(nameWidth) + (reading.applies ? 'yes' : 'no').padEnd(appliesWidth) + readingText(reading));
    lines.push(`${indent}why: ${reading.why}`);
    for (const note of reading.reserved) lines.push(`${indent}! ${note}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The summary without its "format name: " prefix (the FORMAT column already says it). */
function readingText(reading: ReadingInfo): string {
  const colon = reading.summary.indexOf(': ');
  return colon >= 0 ? reading.summary.slice(colon + 2) : reading.summary;
}
