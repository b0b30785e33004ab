import type { Socket } from 'node:net';
import type { Checkpoint } from '../model/checkpoint.js';
import { CriuGdbError } from '../errors.js';
import { escapeBinary, FramedPacket, framePacket, memoryReply, PacketDecoder, runLengthEncode, type Incoming } from './packets.js';
import { librariesSvr4Document } from './libraries-svr4.js';
import type { ProcessTarget } from './target.js';
import { RemoteFiles } from './vfile.js';

/** Packet size offered to gdb: large, so that memory and file reads take few round trips. */
export const PACKET_SIZE = 0x40000;

/** The error gdb shows for anything that would change or resume the checkpoint. */
export const READ_ONLY = 'E.the checkpoint is read-only';

/** A reply payload (or a reply already framed), or null for "send nothing". */
type Reply = Buffer | string | FramedPacket | null;

function hexBigInt(text: string): bigint | undefined {
  return /^[0-9a-fA-F]{1,16}$/.test(text) ? BigInt(`0x${text}`) : undefined;
}

/** Parses a thread id as gdb sends it: `pPID.TID`, `TID`, `-1` (all) or `0` (any). */
function parseThreadId(text: string): { pid?: number; tid: number } | undefined {
  const multi = /^p(-?[0-9a-fA-F]+)\.(-?[0-9a-fA-F]+)$/.exec(text);
  if (multi) return { pid: parseInt(multi[1]!, 16), tid: parseInt(multi[2]!, 16) };
  if (/^-?[0-9a-fA-F]+$/.test(text)) return { tid: parseInt(text, 16) };
  return undefined;
}

/** An `E.message` reply: one line, without the characters that frame packets. */
function errorReply(message: string): string {
  return `E.${message.replace(/[\r\n]+/g, ' ').replace(/[#$}*]/g, ' ')}`;
}

/** Slices a document for a qXfer reply: `m` + data when more follows, `l` + data at the end. */
function xferSlice(document: Buffer, offset: number, length: number): Buffer {
  const chunk = document.subarray(offset, offset + length);
  const more = offset + chunk.length < document.length;
  return Buffer.concat([Buffer.from(more ? 'm' : 'l'), escapeBinary(chunk)]);
}

/**
 * One gdb connection to one checkpointed process. Speaks the remote serial protocol: acknowledgements
 * until no-ack mode, then packets only. Every malformed or unknown packet gets an error or an empty
 * reply; nothing that gdb sends can stop the server.
 */
export class RspConnection {
  private readonly decoder = new PacketDecoder();
  private readonly files: RemoteFiles;
  private noAck = false;
  private currentThread: number;
  private lastReply: Buffer | undefined;
  /** Where the last memory read ended, to notice reads that continue one another. */
  private lastRead: { end: bigint; length: number; encoding: 'hex' | 'binary' } | undefined;
  /** The reply to the read that would continue a sequential run, made while gdb digested the previous one. */
  private prepared: { address: bigint; length: number; encoding: 'hex' | 'binary'; reply: FramedPacket | string } | undefined;
  private closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly target: ProcessTarget,
    checkpoint: Checkpoint,
  ) {
    this.currentThread = target.pid;
    this.files = new RemoteFiles(checkpoint, PACKET_SIZE);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('close', () => {
      this.closed = true;
      this.prepared = undefined;
      this.files.closeAll();
    });
    socket.on('error', () => socket.destroy());
  }

  private receive(chunk: Buffer): void {
    for (const item of this.decoder.push(chunk)) this.handleItem(item);
  }

  private handleItem(item: Incoming): void {
    switch (item.type) {
      case 'ack':
      case 'interrupt': // always stopped: nothing to interrupt
        return;
      case 'nack':
        if (this.lastReply && !this.noAck) this.socket.write(this.lastReply);
        return;
      case 'bad-checksum':
        if (!this.noAck) this.socket.write('-');
        return;
      case 'oversized':
        if (!this.noAck) this.socket.write('+');
        this.send('E.packet too long');
        return;
      case 'packet': {
        if (!this.noAck) this.socket.write('+');
        let reply: Reply;
        try {
          reply = this.dispatch(item.payload.toString('latin1'));
        } catch (error) {
          const message = error instanceof CriuGdbError ? error.message : error instanceof Error ? error.message : String(error);
          reply = errorReply(message);
        }
        if (reply !== null) this.send(reply);
      }
    }
  }

  private send(payload: Buffer | string | FramedPacket): void {
    const framed = payload instanceof FramedPacket ? payload.bytes : framePacket(payload);
    this.lastReply = framed;
    this.socket.write(framed);
  }

  /** Answers one packet. */
  private dispatch(packet: string): Reply {
    const target = this.target;
    switch (packet[0]) {
      case '?':
        return this.stopReply();
      case 'g':
        return runLengthEncode(Buffer.from(target.allRegisters(this.currentThread), 'latin1'));
      case 'p': {
        const regnum = parseInt(packet.slice(1), 16);
        if (Number.isNaN(regnum)) return 'E16';
        return target.oneRegister(this.currentThread, regnum) ?? 'E16';
      }
      case 'm':
        return this.readMemory(packet.slice(1), 'hex');
      case 'x':
        return this.readMemory(packet.slice(1), 'binary');
      case 'H':
        return this.setThread(packet.slice(2));
      case 'T': {
        const thread = parseThreadId(packet.slice(1));
        return thread && target.tids.includes(thread.tid) ? 'OK' : 'E10';
      }
      case 'D':
        return 'OK';
      case 'k':
        return null;
      case 'c':
      case 'C':
      case 's':
      case 'S':
        return this.refuseResumption();
      case 'G':
      case 'P':
      case 'M':
      case 'X':
      case 'i':
      case 'I':
      case 'R':
        return READ_ONLY;
      case 'Z':
      case 'z':
        // The process never runs here, so a breakpoint needs no write. Refusing would also make gdb fail to
        // resume unrelated native inferiors, since it inserts breakpoints into every inferior at once.
        return 'OK';
      case 'q':
      case 'Q':
        return this.query(packet);
      case 'v':
        return this.vPacket(packet);
      default:
        return '';
    }
  }

  private stopReply(): string {
    const signal = this.target.stopSignal().toString(16).padStart(2, '0');
    return `T${signal}thread:p${this.target.pid.toString(16)}.${this.currentThread.toString(16)};`;
  }

  /**
   * A request to run (`c`, `s`, `vCont;...`). gdb sends it only after telling the user or front-end that the
   * process runs, and reads the reply as a stop: an error reply becomes a stop by "signal 0". So the process
   * stops at once where it was, with the `replaylog` reason (end of recorded history; MI
   * `reason="no-history"`): a checkpoint has no future to run into. The plugin refuses the CLI commands first.
   */
  private refuseResumption(): null {
    this.send(`T00replaylog:end;thread:p${this.target.pid.toString(16)}.${this.currentThread.toString(16)};`);
    return null;
  }

  private setThread(text: string): string {
    const thread = parseThreadId(text);
    if (!thread) return 'E16';
    if (thread.tid === 0 || thread.tid === -1) return 'OK';
    if (!this.target.tids.includes(thread.tid)) return 'E10';
    this.currentThread = thread.tid;
    return 'OK';
  }

  /**
   * `m addr,length` (hex) or `x addr,length` (binary, gdb 16 and later): as many bytes from `addr` as the
   * checkpoint holds in a row, at most half a packet so that any reply fits. Failures use the numeric
   * error form, the only one both packets allow.
   */
  private readMemory(args: string, encoding: 'hex' | 'binary'): FramedPacket | string {
    const [addressText, lengthText] = args.split(',');
    const address = hexBigInt(addressText ?? '');
    const length = /^[0-9a-fA-F]{1,8}$/.test(lengthText ?? '') ? parseInt(lengthText!, 16) : Number.NaN;
    if (address === undefined || Number.isNaN(length)) return 'E16';
    const prepared = this.prepared;
    this.prepared = undefined;
    const reply =
      prepared && prepared.address === address && prepared.length === length && prepared.encoding === encoding
        ? prepared.reply
        : this.memoryReplyAt(address, length, encoding);
    const last = this.lastRead;
    const end = address + BigInt(length);
    this.lastRead = { end, length, encoding };
    // gdb reads on where a read ended (a dump, its cache filling line after line): the next reply is made
    // now, while gdb is busy with this one (it takes gdb longer to take in a reply than to make it here).
    if (last && last.end === address && last.length === length && last.encoding === encoding && length > 0) {
      setImmediate(() => {
        if (this.closed || this.lastRead?.end !== end) return;
        this.prepared = { address: end, length, encoding, reply: this.memoryReplyAt(end, length, encoding) };
      });
    }
    return reply;
  }

  /** The reply to a read of `length` bytes at `address`. */
  private memoryReplyAt(address: bigint, length: number, encoding: 'hex' | 'binary'): FramedPacket | string {
    let data: Buffer;
    try {
      data = this.target.readMemory(address, Math.min(length, PACKET_SIZE / 2));
    } catch {
      return 'E05';
    }
    if (data.length === 0 && length > 0) return 'E14';
    return memoryReply(data, encoding);
  }

  private query(packet: string): Reply {
    const [name = '', ...rest] = packet.split(':');
    const args = rest.join(':');
    switch (name) {
      case 'qSupported':
        return [
          `PacketSize=${PACKET_SIZE.toString(16)}`,
          'QStartNoAckMode+',
          'multiprocess+',
          'qXfer:features:read+',
          'qXfer:threads:read+',
          'qXfer:auxv:read+',
          'qXfer:exec-file:read+',
          'qXfer:libraries-svr4:read+',
          'vContSupported+',
          'binary-upload+',
        ].join(';');
      case 'QStartNoAckMode':
        this.noAck = true;
        return 'OK';
      case 'qC':
        return `QCp${this.target.pid.toString(16)}.${this.currentThread.toString(16)}`;
      case 'qAttached':
        return '1';
      case 'qfThreadInfo':
        return `m${this.target.tids.map((tid) => `p${this.target.pid.toString(16)}.${tid.toString(16)}`).join(',')}`;
      case 'qsThreadInfo':
        return 'l';
      case 'qSymbol':
        return 'OK';
      case 'qGetTLSAddr':
        return this.threadLocalAddress(args);
      case 'qXfer':
        return this.transfer(args);
      case 'QNonStop':
        return args === '0' ? 'OK' : 'E.non-stop mode is not supported';
      case 'QThreadEvents':
      case 'QPassSignals':
      case 'QProgramSignals':
      case 'QCatchSyscalls':
      case 'QDisableRandomization':
      case 'QEnvironmentReset':
        return 'OK';
      default:
        return '';
    }
  }

  /**
   * `qGetTLSAddr:thread-id,offset,lm`: the address, in hex, of the thread-local variable at `offset` in the
   * block of the module whose link map is at `lm`. A variable that cannot be located gets `E.message`
   * (gdb shows its own "failed to process" line; the message is in `set debug remote` output).
   */
  private threadLocalAddress(args: string): string {
    const [threadText = '', offsetText = '', linkMapText = ''] = args.split(',');
    const thread = parseThreadId(threadText);
    const offset = hexBigInt(offsetText);
    const linkMap = hexBigInt(linkMapText);
    if (!thread || thread.tid <= 0 || offset === undefined || linkMap === undefined) return 'E16';
    if (thread.pid !== undefined && thread.pid !== this.target.pid) return 'E.no such process';
    try {
      return this.target.threadLocalAddress(thread.tid, offset, linkMap).toString(16);
    } catch (error) {
      if (!(error instanceof CriuGdbError)) throw error;
      return errorReply(error.message);
    }
  }

  /** `qXfer:object:read:annex:offset,length`. */
  private transfer(args: string): Reply {
    const [object, operation, annex, range] = args.split(':');
    if (operation !== 'read' || range === undefined) return 'E.only reading is supported';
    const [offsetText, lengthText] = range.split(',');
    const offset = parseInt(offsetText ?? '', 16);
    const length = Math.min(parseInt(lengthText ?? '', 16), PACKET_SIZE / 2);
    if (Number.isNaN(offset) || Number.isNaN(length)) return 'E16';
    let document: Buffer | undefined;
    switch (object) {
      case 'features':
        document = annex === 'target.xml' ? Buffer.from(this.target.description.xml) : undefined;
        break;
      case 'threads':
        document = Buffer.from(this.target.threadsXml());
        break;
      case 'auxv':
        document = this.target.auxv();
        break;
      case 'libraries-svr4': {
        const text = librariesSvr4Document((address, size) => this.target.readMemory(address, size), this.target.process.mm().auxvEntries, annex ?? '');
        document = text === undefined ? undefined : Buffer.from(text, 'latin1');
        break;
      }
      case 'exec-file': {
        const path = this.target.exePath();
        document = path === undefined ? undefined : Buffer.from(path);
        break;
      }
      default:
        return '';
    }
    if (!document) return 'E00';
    return xferSlice(document, offset, length);
  }

  private vPacket(packet: string): Reply {
    if (packet.startsWith('vFile:')) return this.files.handle(packet.slice('vFile:'.length));
    if (packet === 'vCont?') return 'vCont;c;C;s;S';
    if (packet.startsWith('vCont;')) return this.refuseResumption();
    if (packet.startsWith('vCont') || packet.startsWith('vRun') || packet.startsWith('vAttach')) return READ_ONLY;
    if (packet.startsWith('vKill')) return 'OK';
    if (packet === 'vMustReplyEmpty') return '';
    return '';
  }
}
