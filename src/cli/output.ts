/**
 * Where a subcommand writes: through the command's commander output configuration, so `buildProgram()` callers (tests,
 * embedders) can capture output the same way they capture commander's own help and error text.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UsageError } from '../core/errors.ts';

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

/**
 * A command's verdict, kept per program rather than in `process.exitCode`: `runCli` returns it, so an embedder or a
 * test running several programs in one process sees each program's own exit code.
 */
const exitCodes = new WeakMap<Command, number>();

function rootOf(command: Command): Command {
  let root = command;
  while (root.parent) root = root.parent;
  return root;
}

/** Record that the program should exit with `code` (the highest code recorded wins). */
export function setExitCode(command: Command, code: number): void {
  const root = rootOf(command);
  exitCodes.set(root, Math.max(exitCodes.get(root) ?? 0, code));
}

/** The exit code the program's commands recorded (0 when none did). */
export function exitCodeOf(program: Command): number {
  return exitCodes.get(rootOf(program)) ?? 0;
}

/** Write an output file (--perfetto); a path that cannot be written is a usage error naming the option, not a stack trace. */
export function writeOutputFile(path: string, text: string, option: string): void {
  try {
    writeFileSync(path, text);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`${option} ${path}: cannot write the file (${code ?? (e as Error).message})`);
  }
}
