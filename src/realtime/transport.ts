// What a client connection is to a session, whatever carries it (Server-Sent Events or WebSocket).
import type { ApiError } from '../rest/errors.ts';

export interface Transport {
  /** Sends one event: its type (the SSE event name) and the whole message as JSON text. */
  send(type: string, json: string): void;
  /** Bytes accepted for this connection and not yet handed to the kernel. */
  buffered(): number;
  /** A keep-alive; false when the peer has not answered the previous one (it is then closed). */
  heartbeat(): boolean;
  /** Sends the error (if any) as a last event, then closes with `code` (a WebSocket close code). */
  close(code: number, error?: ApiError): void;
  /** Runs once when the connection has ended, whoever ended it. */
  onClosed(callback: () => void): void;
}

/** The JSON text of an error event: `{type:'error', id?, status, error:{code, details, hint, message}}`. */
export function errorMessage(error: ApiError, id?: string): string {
  return JSON.stringify({
    type: 'error',
    ...(id === undefined ? {} : { id }),
    status: error.status,
    error: error.body(),
  });
}
