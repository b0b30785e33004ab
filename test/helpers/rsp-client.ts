/** A minimal remote-protocol client over a real Unix socket, for tests: sends raw bytes, collects replies. */
import { connect, type Socket } from 'node:net';
import { checksum } from '../../src/rsp/packets.js';

export class RspClient {
  private received = Buffer.alloc(0);
  private waiters: Array<() => void> = [];

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  static connect(path: string): Promise<RspClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(path, () => resolve(new RspClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends raw bytes as they are. */
  sendRaw(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  /** Sends a well-framed packet. */
  send(payload: string | Buffer): void {
    const body = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
    this.socket.write(Buffer.concat([Buffer.from('$'), body, Buffer.from(`#${checksum(body)}`)]));
  }

  /** Waits until the received bytes contain a packet whose payload matches `pattern`; returns all payloads up to it. */
  async until(pattern: RegExp, timeoutMs = 5000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.received.toString('latin1');
      const payloads = [...text.matchAll(/\$([^#]*)#[0-9a-f]{2}/g)].map((m) => m[1]!);
      const index = payloads.findIndex((p) => pattern.test(p));
      if (index >= 0) {
        const match = [...text.matchAll(/\$([^#]*)#[0-9a-f]{2}/g)][index]!;
        this.received = this.received.subarray((match.index ?? 0) + match[0].length);
        return payloads.slice(0, index + 1);
      }
      if (Date.now() > deadline) throw new Error(`no reply matching ${pattern} within ${timeoutMs} ms; got ${text.slice(0, 200)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Everything received and not yet consumed. */
  pending(): string {
    return this.received.toString('latin1');
  }

  close(): void {
    this.socket.destroy();
  }
}
