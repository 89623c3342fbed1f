// One simulated meter on the wire: requests are served in sequence on a connection until the client
// closes, each answer written in one write (spec §1). Faults and latency are applied per request, and
// every request is logged for tests.
import { EventEmitter, once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { delay } from '../abort.ts';
import { decodeDataField, encodeDataField, type DataField } from '../data-field.ts';
import { EmopCrcError, EmopDecodeError } from '../errors.ts';
import { decodeFrame, encodeFrame, FRAME_DELIMITER, wireLength, type Frame } from '../frame.ts';
import { FaultPlan, type Fault, type FaultRule } from './faults.ts';
import { MeterRejection, NAK, type MeterModel } from './meter-model.ts';

export interface SimulatedMeterInfo {
  serial: string;
  host: string;
  port: number;
  /** The meter's own u24 address (answers carry it as the source). */
  address: number;
  twinElement: boolean;
}

export interface RequestLogEntry {
  /** `now()` when the whole request had arrived. */
  at: number;
  /** Connection number on this meter, from 1. */
  connection: number;
  request: DataField | 'undecodable';
  fault: Fault['kind'] | undefined;
  /** NAK code sent, 0 when answered normally, undefined when no answer was sent. */
  code: number | undefined;
  /** Another request to this meter was still being handled when this one arrived. */
  overlapping: boolean;
}

export class SimulatedMeter {
  readonly requests: RequestLogEntry[] = [];
  private readonly faults = new FaultPlan();
  private readonly events = new EventEmitter();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  private inFlight = 0;
  private connections = 0;
  private listening: SimulatedMeterInfo | undefined;
  private refusing = false;
  private reopenTimer: NodeJS.Timeout | undefined;
  private reopening: Promise<void> | undefined;
  private closed = false;
  /** Listening sockets closed while connections they accepted are still open. */
  private readonly closing: Promise<void>[] = [];

  constructor(
    readonly model: MeterModel,
    private readonly address: number,
    private readonly now: () => number,
  ) {}

  async listen(host: string, port: number): Promise<SimulatedMeterInfo> {
    const server = await this.openServer(host, port);
    this.listening = {
      serial: this.model.serial,
      host,
      port: (server.address() as AddressInfo).port,
      address: this.address,
      twinElement: this.model.twinElement,
    };
    for (const rule of this.model.config.faults ?? []) this.injectFault(rule);
    if (this.model.config.refuseConnections) await this.refuseConnections();
    return this.listening;
  }

  /**
   * Stops accepting connections, so connecting is refused (ECONNREFUSED), for `ms` or until
   * `acceptConnections()`. Connections already open are served.
   */
  async refuseConnections(ms?: number): Promise<void> {
    clearTimeout(this.reopenTimer);
    this.refusing = true;
    const server = this.server;
    this.server = undefined;
    // Stops accepting at once; the callback waits for the connections already open, which are still served.
    if (server?.listening) this.closing.push(new Promise<void>((resolve) => server.close(() => resolve())));
    if (ms !== undefined) {
      this.reopenTimer = setTimeout(() => {
        this.reopening = this.acceptConnections().catch((error: unknown) => void this.events.emit('error', error));
      }, ms);
    }
  }

  /** Accepts connections again on the same port. */
  async acceptConnections(): Promise<void> {
    clearTimeout(this.reopenTimer);
    this.refusing = false;
    if (this.server || this.closed) return;
    await this.openServer(this.info.host, this.info.port);
  }

  get refusingConnections(): boolean {
    return this.refusing;
  }

  private async openServer(host: string, port: number): Promise<Server> {
    const server = createServer((socket) => this.serve(socket));
    this.server = server;
    server.listen(port, host);
    await once(server, 'listening');
    return server;
  }

  get info(): SimulatedMeterInfo {
    if (!this.listening) throw new Error(`simulated meter ${this.model.serial} is not listening`);
    return this.listening;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reopenTimer);
    await this.reopening;
    for (const socket of this.sockets) socket.destroy();
    const server = this.server;
    this.server = undefined;
    if (server?.listening) this.closing.push(new Promise<void>((resolve) => server.close(() => resolve())));
    await Promise.all(this.closing);
  }

  injectFault(rule: FaultRule | Fault): void {
    this.faults.add('kind' in rule ? { fault: rule } : rule);
  }

  /** Resolves once `count` requests in all have arrived. */
  async waitForRequests(count: number): Promise<void> {
    while (this.requests.length < count) await once(this.events, 'request');
  }

  /** Serves one connection: frames are handled one after the other until the client closes. */
  private serve(socket: Socket): void {
    const connection = ++this.connections;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    let buffer = Buffer.alloc(0);
    let queue = Promise.resolve();
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const start = buffer.indexOf(FRAME_DELIMITER);
        buffer = start < 0 ? Buffer.alloc(0) : buffer.subarray(start);
        const lengthByte = buffer[1];
        if (lengthByte === undefined || buffer.length < wireLength(lengthByte)) return;
        const bytes = Uint8Array.from(buffer.subarray(0, wireLength(lengthByte)));
        buffer = buffer.subarray(wireLength(lengthByte));
        queue = queue.then(() => this.handle(socket, connection, bytes));
      }
    });
  }

  private async handle(socket: Socket, connection: number, bytes: Uint8Array): Promise<void> {
    const parsed = parseRequest(bytes);
    const request = parsed.kind === 'request' ? parsed.request : undefined;
    const fault = request && this.faults.take(request.format === 'object' ? request.oid : undefined);
    const entry: RequestLogEntry = {
      at: this.now(),
      connection,
      request: request ?? 'undecodable',
      fault: fault?.kind,
      code: undefined,
      overlapping: this.inFlight > 0,
    };
    this.requests.push(entry);
    this.events.emit('request', entry);
    this.inFlight++;
    try {
      await delay(this.model.config.latencyMs ?? 0, undefined);
      if (fault?.kind === 'drop') return void socket.destroy();
      if (fault?.kind === 'silence') return;
      if (fault?.kind === 'delay') await delay(fault.ms, undefined);
      const answer = this.answer(parsed, fault);
      if (!answer || socket.destroyed) return;
      entry.code = answer.code;
      const frame = encodeFrame({
        destination: answer.replyTo.source,
        source: { deviceType: 0, address: this.address },
        sequence: answer.replyTo.sequence,
        code: answer.code,
        data: answer.data,
      });
      if (fault?.kind === 'badCrc') frame[frame.length - 1]! ^= 0xff;
      if (fault?.kind === 'garbage') socket.write(Buffer.from('not an EMOP frame'));
      else if (fault?.kind === 'truncate') socket.end(frame.subarray(0, frame.length >> 1));
      else if (fault?.kind === 'reset')
        socket.write(frame.subarray(0, frame.length >> 1), () => socket.resetAndDestroy());
      else socket.write(frame);
      const busyMs = this.model.config.busyAfterRequestMs ?? 0;
      if (busyMs > 0 && !this.closed) await this.refuseConnections(busyMs);
    } finally {
      this.inFlight--;
    }
  }

  /** Runs the request on the model (unless a NAK fault pre-empts it) and builds the answer's data field. */
  private answer(parsed: ParsedRequest, fault: Fault | undefined): Answer | undefined {
    if (parsed.kind !== 'request') return parsed.kind === 'nak' ? parsed : undefined;
    const { replyTo, request } = parsed;
    const header = encodeDataField({ ...request, payload: new Uint8Array() });
    if (fault?.kind === 'nak') return { replyTo, code: fault.code, data: header };
    if (fault?.kind === 'ignoreWrite' && request.format === 'object' && request.access === 'write') {
      return { replyTo, code: 0, data: header };
    }
    try {
      return { replyTo, code: 0, data: encodeDataField({ ...request, payload: this.model.answer(request) }) };
    } catch (error) {
      if (!(error instanceof MeterRejection)) throw error;
      return { replyTo, code: error.code, data: header };
    }
  }
}

type ReplyTo = Pick<Frame, 'source' | 'sequence'>;
interface Answer {
  replyTo: ReplyTo;
  code: number;
  data: Uint8Array;
}
type ParsedRequest =
  { kind: 'request'; replyTo: ReplyTo; request: DataField } | ({ kind: 'nak' } & Answer) | { kind: 'ignored' };

/** A request, a NAK to send for it (bad CRC, bad data field), or nothing answerable. */
function parseRequest(bytes: Uint8Array): ParsedRequest {
  let frame: Frame;
  try {
    frame = decodeFrame(bytes);
  } catch (error) {
    if (!(error instanceof EmopCrcError)) return { kind: 'ignored' };
    // How a real meter answers a bad CRC is unknown (spec §9); this one NAKs with code 1, echoing the header.
    const replyTo = {
      source: { deviceType: bytes[6]!, address: (bytes[7]! << 16) | (bytes[8]! << 8) | bytes[9]! },
      sequence: bytes[10]! & 0x07,
    };
    return { kind: 'nak', replyTo, code: NAK.crc, data: bytes.slice(11, Math.min(16, bytes.length - 2)) };
  }
  try {
    return { kind: 'request', replyTo: frame, request: decodeDataField(frame.data) };
  } catch (error) {
    if (!(error instanceof EmopDecodeError)) throw error;
    return { kind: 'nak', replyTo: frame, code: NAK.format, data: frame.data.slice(0, 5) };
  }
}
