/**
 * Drives real gdb through its machine interface (`--interpreter=mi3`) over pipes, as an IDE does: each
 * command gets a token, and its result record (`TOKEN^done`, `^error`, `^running`...) is awaited together
 * with the asynchronous records (`*running`, `*stopped`, `=...`) printed meanwhile.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

/** An MI value: a string (c-string), a tuple or a list. */
export type MiValue = string | MiTuple | MiValue[];
export interface MiTuple {
  [name: string]: MiValue;
}

/** One MI output record. */
export interface MiRecord {
  /** `^` result, `*` exec-async, `+` status-async, `=` notify-async, `~` console, `@` target, `&` log. */
  kind: '^' | '*' | '+' | '=' | '~' | '@' | '&';
  token?: number;
  /** The class (`done`, `error`, `running`, `stopped`...); for stream records, the text. */
  name: string;
  results: MiTuple;
  line: string;
}

/** The answer to one command: its result record and every other record printed until it. */
export interface MiAnswer {
  result: MiRecord;
  /** Records printed between sending the command and its result record. */
  others: MiRecord[];
}

class Parser {
  private at = 0;
  constructor(private readonly text: string) {}

  cString(): string {
    if (this.text[this.at] !== '"') throw new Error(`MI: expected a string at ${this.at} in ${this.text}`);
    this.at++;
    let out = '';
    for (;;) {
      const c = this.text[this.at++];
      if (c === undefined) throw new Error(`MI: unterminated string in ${this.text}`);
      if (c === '"') return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.text[this.at++] ?? '';
      const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', a: '\x07', b: '\b', f: '\f', v: '\v', e: '\x1b' };
      if (simple[e] !== undefined) out += simple[e];
      else if (/[0-7]/.test(e)) {
        let digits = e;
        while (digits.length < 3 && /[0-7]/.test(this.text[this.at] ?? '')) digits += this.text[this.at++];
        out += String.fromCharCode(parseInt(digits, 8));
      } else out += e;
    }
  }

  value(): MiValue {
    const c = this.text[this.at];
    if (c === '"') return this.cString();
    if (c === '{') {
      this.at++;
      const tuple: MiTuple = {};
      if (this.text[this.at] === '}') {
        this.at++;
        return tuple;
      }
      for (;;) {
        const [name, value] = this.result();
        tuple[name] = value;
        const next = this.text[this.at++];
        if (next === '}') return tuple;
        if (next !== ',') throw new Error(`MI: bad tuple in ${this.text}`);
      }
    }
    if (c === '[') {
      this.at++;
      const list: MiValue[] = [];
      if (this.text[this.at] === ']') {
        this.at++;
        return list;
      }
      for (;;) {
        // A list holds values, or results (name=value) of which only the values are kept.
        if (/[a-zA-Z_-]/.test(this.text[this.at] ?? '')) list.push(this.result()[1]);
        else list.push(this.value());
        const next = this.text[this.at++];
        if (next === ']') return list;
        if (next !== ',') throw new Error(`MI: bad list in ${this.text}`);
      }
    }
    throw new Error(`MI: unexpected ${c ?? 'end'} at ${this.at} in ${this.text}`);
  }

  result(): [string, MiValue] {
    const eq = this.text.indexOf('=', this.at);
    const name = this.text.slice(this.at, eq);
    this.at = eq + 1;
    return [name, this.value()];
  }

  results(): MiTuple {
    const tuple: MiTuple = {};
    while (this.text[this.at] === ',') {
      this.at++;
      const [name, value] = this.result();
      tuple[name] = value;
    }
    return tuple;
  }
}

/** Parses one line of MI output, or returns undefined for the prompt and anything else. */
export function parseMiLine(line: string): MiRecord | undefined {
  const match = /^(\d*)([\^*+=~@&])/.exec(line);
  if (!match) return undefined;
  const kind = match[2] as MiRecord['kind'];
  const token = match[1] === '' ? undefined : Number(match[1]);
  const rest = line.slice(match[0].length);
  if (kind === '~' || kind === '@' || kind === '&') return { kind, token, name: new Parser(rest).cString(), results: {}, line };
  const comma = rest.indexOf(',');
  const name = comma < 0 ? rest : rest.slice(0, comma);
  const results = comma < 0 ? {} : new Parser(rest.slice(comma)).results();
  return { kind, token, name, results, line };
}

/** A string field of a tuple (fails the test's expectations with a clear message when it is not one). */
export function field(tuple: MiValue | undefined, name: string): string {
  if (tuple === undefined || typeof tuple === 'string' || Array.isArray(tuple)) throw new Error(`MI: no tuple for ${name}`);
  const value = tuple[name];
  if (typeof value !== 'string') throw new Error(`MI: ${name} is not a string in ${JSON.stringify(tuple)}`);
  return value;
}

/** A list field of a tuple. */
export function list(tuple: MiValue | undefined, name: string): MiValue[] {
  if (tuple === undefined || typeof tuple === 'string' || Array.isArray(tuple)) throw new Error(`MI: no tuple for ${name}`);
  const value = tuple[name];
  if (!Array.isArray(value)) throw new Error(`MI: ${name} is not a list in ${JSON.stringify(tuple)}`);
  return value;
}

/** A gdb running the MI3 interpreter. */
export class MiSession {
  private readonly child: ChildProcessWithoutNullStreams;
  private buffer = '';
  private readonly records: MiRecord[] = [];
  private waiter: (() => void) | undefined;
  private nextToken = 1;
  private exited = false;
  /** Every record gdb printed, in order. */
  readonly transcript: MiRecord[] = [];

  constructor(gdb: string, env: Record<string, string> = {}) {
    this.child = spawn(gdb, ['-nx', '-q', '--interpreter=mi3', '-iex', 'set pagination off', '-iex', 'set width 0'], {
      env: { ...process.env, ...env },
    });
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => {
      this.buffer += chunk;
      let newline = this.buffer.indexOf('\n');
      while (newline >= 0) {
        const record = parseMiLine(this.buffer.slice(0, newline).replace(/\r$/, ''));
        this.buffer = this.buffer.slice(newline + 1);
        if (record) {
          this.records.push(record);
          this.transcript.push(record);
        }
        newline = this.buffer.indexOf('\n');
      }
      this.waiter?.();
    });
    this.child.stderr.resume();
    this.child.on('exit', () => {
      this.exited = true;
      this.waiter?.();
    });
  }

  /** Waits for a record that `matches`; returns it and the records before it (all consumed). */
  async waitFor(matches: (record: MiRecord) => boolean, what: string, timeoutMs = 60_000): Promise<MiAnswer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.records.findIndex(matches);
      if (index >= 0) {
        const others = this.records.splice(0, index + 1);
        const result = others.pop()!;
        return { result, others };
      }
      if (this.exited) throw new Error(`gdb exited while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; last records:\n${this.records.slice(-10).map((r) => r.line).join('\n')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  /** Sends one MI command and waits for its result record. */
  async command(text: string, timeoutMs = 60_000): Promise<MiAnswer> {
    const token = this.nextToken++;
    this.child.stdin.write(`${token}${text}\n`);
    return this.waitFor((record) => record.kind === '^' && record.token === token, `the answer to ${text}`, timeoutMs);
  }

  /** Records received so far that no wait consumed (and consumes them). */
  drain(): MiRecord[] {
    return this.records.splice(0, this.records.length);
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.write('-gdb-exit\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
}
