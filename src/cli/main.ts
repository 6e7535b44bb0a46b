#!/usr/bin/env node
/**
 * The `irqpath` program. This file only builds the command tree and dispatches; each subcommand lives in its own
 * `src/cli/<name>-command.ts` exporting `register<Name>Command(program)`. To add one (run, matrix, log, ...), import
 * it and add one call in {@link buildProgram}.
 *
 * Exit codes: 0 success (and --help / --version); 1 a run whose outcome is not what its scenario states (UNEXPECTED),
 * or an internal error; 2 input irqpath cannot use (bad number, missing or unknown option, a scenario file that does
 * not validate, a UsageError/ConfigError from the library).
 */
import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { ConfigError, UsageError } from '../core/errors.ts';
import { registerDecodeCommand } from './decode-command.ts';
import { registerRunCommand } from './run-command.ts';
import { registerMatrixCommand } from './matrix-command.ts';
import { registerLogCommand } from './log-command.ts';
import { registerFromDmesgCommand } from './from-dmesg-command.ts';
import { registerReplayCommand } from './replay-command.ts';
import { registerQemuCommand } from './qemu-command.ts';
import { registerServeCommand } from './serve-command.ts';
import { USAGE_EXIT_CODE } from './parse-number.ts';
import { exitCodeOf } from './output.ts';

export interface ProgramOptions {
  /** Where normal output goes (default process.stdout). Subcommands write through commander's output configuration. */
  writeOut?: (text: string) => void;
  /** Where errors and usage messages go (default process.stderr). */
  writeErr?: (text: string) => void;
  /** Throw a CommanderError instead of calling process.exit (tests, embedding). */
  exitOverride?: boolean;
}

const packageJson = createRequire(import.meta.url)('../../package.json') as { version: string };

export function buildProgram(options: ProgramOptions = {}): Command {
  const program = new Command('irqpath')
    .description('x86 interrupt-path emulator: LAPIC/x2APIC, I/O APIC, VT-d and AMD-Vi interrupt remapping, PCI MSI/MSI-X')
    .version(packageJson.version);
  // Output and exit settings must be in place before subcommands are added: commander copies them at creation.
  const output: { writeOut?: (text: string) => void; writeErr?: (text: string) => void } = {};
  if (options.writeOut) output.writeOut = options.writeOut;
  if (options.writeErr) output.writeErr = options.writeErr;
  program.configureOutput(output);
  if (options.exitOverride) program.exitOverride();

  registerDecodeCommand(program);
  registerRunCommand(program);
  registerMatrixCommand(program);
  registerLogCommand(program);
  registerFromDmesgCommand(program);
  registerReplayCommand(program);
  registerQemuCommand(program);
  registerServeCommand(program);
  return program;
}

/** Parse `argv` (process.argv form) and run; resolves to the process exit code. */
export async function runCli(argv: string[] = process.argv, options: Omit<ProgramOptions, 'exitOverride'> = {}): Promise<number> {
  const program = buildProgram({ ...options, exitOverride: true });
  try {
    await program.parseAsync(argv);
    return exitCodeOf(program);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has already printed its message; 0 for help/version, and every usage error becomes 2.
      return err.exitCode === 0 ? 0 : USAGE_EXIT_CODE;
    }
    if (err instanceof UsageError || err instanceof ConfigError) {
      (options.writeErr ?? ((text: string) => process.stderr.write(text)))(`irqpath: ${err.message}\n`);
      return USAGE_EXIT_CODE;
    }
    throw err;
  }
}

function isMainModule(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

/**
 * The process entry: run the command line and set the exit code. Called when this file is run directly, and by the
 * package's `bin` launcher (bin/irqpath.mjs), which imports it.
 */
export async function main(): Promise<void> {
  // A reader that goes away (`irqpath run all | head`) is not an error; any other failure to write the output is
  // reported as one, with the usage exit code, instead of an unhandled 'error' event and its stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') process.stderr.write(`irqpath: cannot write the output (${err.code ?? err.message})\n`);
    process.exit(err.code === 'EPIPE' ? (process.exitCode ?? 0) : USAGE_EXIT_CODE);
  });
  process.exitCode = await runCli();
}

if (isMainModule()) await main();
