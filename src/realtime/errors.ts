// Errors of the realtime service that PostgREST has no code for. They use PostgREST's error body
// ({code, details, hint, message}) so clients handle both alike; codes are listed in docs/realtime.md.
import { ApiError } from '../rest/errors.ts';

/** The relation exists but no watched table feeds it. */
export function notStreamed(relation: string, watched: string[]): ApiError {
  return new ApiError(
    400,
    'FLRT1',
    `The relation '${relation}' is not streamed`,
    null,
    watched.length === 0
      ? 'No table is watched (sql/640_realtime.sql)'
      : `Streamed tables (and views carrying their primary key): ${watched.join(', ')}`,
  );
}

/** A WebSocket message or subscription request the protocol does not allow. */
export function badMessage(message: string, details: string | null = null): ApiError {
  return new ApiError(400, 'FLRT2', message, details, 'See docs/realtime.md for the protocol');
}

/** Back-pressure: the client did not take its changes fast enough and is disconnected. */
export function slowClient(reason: string): ApiError {
  return new ApiError(
    503,
    'FLRT3',
    'Client too slow: disconnected',
    reason,
    'Read changes as they come; reconnect and re-read the current state',
  );
}
