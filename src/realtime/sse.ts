// Server-Sent Events: `event: <type>` / `data: <json>` blocks, comments as keep-alives.
import type { ServerResponse } from 'node:http';
import type { ApiError } from '../rest/errors.ts';
import { errorMessage, type Transport } from './transport.ts';

/** Answers 200 with an event stream; `headers` are added (CORS). */
export function openEventStream(res: ServerResponse, headers: [string, string][] = []): Transport {
  res.writeHead(200, [
    ['Content-Type', 'text/event-stream; charset=utf-8'],
    ['Cache-Control', 'no-cache'],
    ['Connection', 'keep-alive'],
    // Proxies (nginx) must pass events through at once.
    ['X-Accel-Buffering', 'no'],
    ...headers,
  ]);
  res.flushHeaders();
  let open = true;
  const callbacks: (() => void)[] = [];
  res.once('close', () => {
    open = false;
    for (const callback of callbacks) callback();
  });
  const write = (type: string, json: string) => {
    // JSON text has line breaks only as whitespace (json_agg puts some); each line is a data line.
    if (open)
      res.write(
        `event: ${type}\n${json
          .split('\n')
          .map((line) => `data: ${line}\n`)
          .join('')}\n`,
      );
  };
  return {
    send: write,
    buffered: () => res.writableLength,
    heartbeat() {
      if (open) res.write(': keep-alive\n\n');
      return open;
    },
    close(_code: number, error?: ApiError) {
      if (!open) return;
      if (error) write('error', errorMessage(error));
      res.end();
      // A client that does not read would hold the socket (and its buffer) open.
      setTimeout(() => res.destroy(), 1000).unref();
    },
    onClosed(callback) {
      if (open) callbacks.push(callback);
      else callback();
    },
  };
}
