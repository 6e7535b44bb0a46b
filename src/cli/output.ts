/**
 * Where a subcommand writes: through the command's commander output configuration, so `buildProgram()` callers (tests,
 * embedders) can capture output the same way they capture commander's own help and error text.
 */
import type { Command } from 'commander';

export function writeOut(command: Command, text: string): void {
  const write = command.configureOutput().writeOut;
  if (write) write(text);
  else process.stdout.write(text);
}

export function writeErr(command: Command, text: string): void {
  const write = command.configureOutput().writeErr;
  if (write) write(text);
  else process.stderr.write(text);
}
