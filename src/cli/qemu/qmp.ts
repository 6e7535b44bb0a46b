/**
 * A minimal QMP client over QEMU's `-qmp unix:PATH,server=on,wait=off` socket: the greeting, `qmp_capabilities`, then
 * one command at a time. Asynchronous events (lines with "event") are collected, not mistaken for replies.
 * HMP commands (`info pic`, `xp`) go through QMP's `human-monitor-command`.
 */
import { createConnection, type Socket } from 'node:net';

export class QmpClient {
  private buffer = '';
  private waiting: Array<(msg: Record<string, unknown>) => void> = [];
  readonly events: Record<string, unknown>[] = [];

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as Record<string, unknown>;
        if ('event' in msg) this.events.push(msg);
        else this.waiting.shift()?.(msg);
      }
    });
  }

  /** Connects, retrying while QEMU has not yet created the socket. */
  static async connect(path: string, attempts = 100): Promise<QmpClient> {
    for (let i = 0; ; i++) {
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = createConnection(path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        const client = new QmpClient(socket);
        await client.next(); // greeting {"QMP": …}
        await client.execute('qmp_capabilities');
        return client;
      } catch (e) {
        if (i >= attempts) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private next(): Promise<Record<string, unknown>> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const reply = this.next();
    this.socket.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
    const msg = await reply;
    if ('error' in msg) throw new Error(`QMP ${command}: ${JSON.stringify(msg.error)}`);
    return msg.return;
  }

  async hmp(commandLine: string): Promise<string> {
    return (await this.execute('human-monitor-command', { 'command-line': commandLine })) as string;
  }

  close(): void {
    this.socket.destroy();
  }
}
