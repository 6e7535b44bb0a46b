/**
 * A guest model's boot log: the lines the real OS would print (dmesg style, with the OS's own prefixes such as
 * "DMAR-IR: " and "x2apic: "), plus the decisions behind them in machine-readable form for reports and tests.
 */
export class BootLog {
  readonly lines: string[] = [];
  readonly decisions: Record<string, string | number | boolean> = {};

  /** Append a log line exactly as the OS prints it. */
  print(line: string): void {
    this.lines.push(line);
  }

  /** Record a decision (e.g. apicLimit = 255, interruptRemapping = "x2apic"). */
  decide(key: string, value: string | number | boolean): void {
    this.decisions[key] = value;
  }

  has(fragment: string): boolean {
    return this.lines.some((l) => l.includes(fragment));
  }
}
