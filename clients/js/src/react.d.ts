// react.d.ts - the types of @pipetrack/client/react (hand-written).
import type { FetchLike, PipetrackClient, PipetrackError, StatusSummary } from "./index.js";

export interface PipelineStatusOptions {
  /** pipetrackd's base URL (or pass `client`) */
  url?: string;
  /** a client whose url, fetch and tokens are used (its read token for the session, from the track answer) */
  client?: PipetrackClient;
  /** the session's read token (from the track answer, or handed out by server code): for pages */
  readToken?: string | null;
  /** the API token: server code only */
  token?: string | null;
  /** for an unknown session: answered `pending` instead of 404 */
  pipelineType?: string;
  eventsLimit?: number;
  historyLimit?: number;
  fetch?: FetchLike;
  /** the poll interval before the first answer (default 2000 ms); later ones follow poll_after_ms */
  pollMs?: number;
  /** more useSWR options (they win over the hook's) */
  swr?: Record<string, unknown>;
}

export interface PipelineStreamOptions extends PipelineStatusOptions {
  /** the EventSource class; null: poll instead (default: globalThis.EventSource) */
  EventSource?: (new (url: string, init?: any) => EventSource) | null;
  /** the second argument of new EventSource() */
  eventSourceInit?: unknown;
}

export interface PipelineStatusResult {
  /** the latest status; the same object while the server answers 304 */
  data: StatusSummary | undefined;
  error: PipetrackError | Error | undefined;
  isLoading: boolean;
  isValidating: boolean;
  /** completed or failed: no more polling */
  terminal: boolean;
  /** useSWR's mutate (undefined while streaming) */
  mutate: ((...args: any[]) => Promise<any>) | undefined;
  transport: "polling" | "stream";
  /** why the stream gave way to polling */
  streamError?: PipetrackError | Error;
}

/** How long until the next poll: poll_after_ms, 0 (stop) once terminal. */
export declare function nextPollMs(data: StatusSummary | undefined, fallbackMs?: number): number;
/** A session's status on useSWR: If-None-Match, poll_after_ms, stop at terminal. A null id fetches nothing. */
export declare function usePipelineStatus(sessionId: string | null | undefined, options: PipelineStatusOptions): PipelineStatusResult;
/** A session's status over Server-Sent Events, polling when EventSource is missing or fails. */
export declare function usePipelineStream(sessionId: string | null | undefined, options: PipelineStreamOptions): PipelineStatusResult;
