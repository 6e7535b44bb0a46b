/**
 * Whether and how the CLI colours its output. The decision follows the conventions users set in their environment,
 * in Node's own order (tty.WriteStream#getColorDepth): FORCE_COLOR wins (FORCE_COLOR=0 or false turns colour off),
 * then NO_COLOR (https://no-color.org: present and not empty) and NODE_DISABLE_COLORS turn it off, and otherwise only
 * a terminal that reports colours gets them. `--no-color` overrides everything. The escape sequences come from
 * `util.styleText`.
 */
import { styleText } from 'node:util';
import { plain, type Painter } from '../scenario/report.ts';

export interface ColorStream {
  isTTY?: boolean;
  hasColors?: (env?: object) => boolean;
}

export function shouldColor(stream: ColorStream, flag: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  if (!flag) return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force.toLowerCase() !== 'false';
  if ((env.NO_COLOR ?? '') !== '' || env.NODE_DISABLE_COLORS !== undefined) return false;
  return stream.isTTY === true && (stream.hasColors?.(env) ?? true);
}

/**
 * styleText on Node 22.13 and later checks process.stdout again (options.validateStream); the decision above has
 * already been taken for the stream the text goes to, so that second check is switched off where it exists.
 */
const NO_STREAM_CHECK = { validateStream: false } as const;
const styled = styleText as (format: string, text: string, options?: typeof NO_STREAM_CHECK) => string;

/** A Painter for the reports: terminal colours when `enabled`, plain text otherwise. */
export function painter(enabled: boolean): Painter {
  return enabled ? (style, text) => styled(style, text, NO_STREAM_CHECK) : plain;
}
