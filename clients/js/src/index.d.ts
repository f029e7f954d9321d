// index.d.ts - the types of @pipetrack/client (hand-written; the code is plain JavaScript).

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export type StepStatus = "started" | "success" | "failure";

/** What a client sends (docs/concepts.md, Sessions and events). */
export interface PipelineEvent {
  /** Idempotency key, 1–128 of `A-Za-z0-9_.:-`; the client makes `evt_<uuid>` when absent. */
  id?: string;
  session_id: string;
  pipeline_type: string;
  step: string;
  status: StepStatus;
  /** Client time, ms since the epoch; the receive time when absent. */
  ts?: number;
  input?: Json;
  output?: Json;
  error?: { code: string; message: string } | null;
}

/** An event as pipetrackd stores and answers it. */
export interface StoredEvent {
  id: string;
  session_id: string;
  pipeline_type: string;
  step: string;
  status: StepStatus;
  ts: number;
  input: Json;
  output: Json;
  error: { code: string; message: string } | null;
  seq: number;
  received_at: number;
  input_sha256: string;
  output_sha256: string;
  link: string;
  redacted: boolean;
}

export interface Progress {
  completed: number;
  total: number;
  percent: number;
}

export type SessionState = "pending" | "in_progress" | "completed" | "failed" | "stalled";

/** A registry entry (snapshot). */
export interface RegistryEntry {
  id: string;
  session_id: string;
  pipeline_type: string;
  chain_hash: string;
  event_count: number;
  last_event_id: string | null;
  event_ids: string[];
  event_ids_truncated?: boolean;
  progress: Progress;
  state: SessionState;
  is_valid: boolean;
  created_at: number;
  notes: string | null;
  /** base64 Ed25519, with --signing-key */
  signature?: string | null;
  [member: string]: unknown;
}

/** The answer of POST /api/pipeline/track (201 stored, 200 replayed). */
export interface TrackAnswer {
  event: StoredEvent;
  snapshot: RegistryEntry | null;
  /** base64 Ed25519 over JCS({chain_hash, link, seq, session_id}); null without --signing-key. */
  receipt: string | null;
  replayed: boolean;
  /** A read token for this session when this answer created it (seq 0) or the API token was used; else null. */
  read_token?: string | null;
}

/** One result of a batch: stored (200/201) or refused (4xx/5xx) with the server's error. */
export type BatchResult =
  | ({ status: 200 | 201 } & TrackAnswer)
  | { status: number; error: ServerErrorBody; event?: undefined };

export interface BatchAnswer {
  results: BatchResult[];
}

export interface ServerErrorBody {
  code: string;
  message: string;
  field: string | null;
}

export interface Checksum {
  chain_hash: string;
  event_count: number;
  last_event_id: string | null;
  state: SessionState;
  is_complete: boolean;
  is_valid: boolean;
  progress: Progress;
  completed_steps: string[];
  failed_steps: string[];
  missing_steps: string[];
  out_of_order_steps: string[];
  started_at: number | null;
  last_event_at: number | null;
  duration_ms: number | null;
  [member: string]: unknown;
}

/** GET /api/pipeline/status: what a UI polls. */
export interface StatusSummary {
  session_id: string;
  pipeline_type: string;
  events: StoredEvent[];
  event_count: number;
  checksum: Checksum;
  latest_snapshot: RegistryEntry | null;
  history: RegistryEntry[];
  /** true once completed or failed: stop polling */
  terminal: boolean;
  /** how long until polling again is useful */
  poll_after_ms: number;
  [member: string]: unknown;
}

export interface StatusResult {
  status: 200 | 304;
  etag: string | null;
  /** null on 304: the data you hold is current */
  data: StatusSummary | null;
}

export interface Report {
  session_id: string;
  pipeline_type: string;
  state: SessionState;
  events: StoredEvent[];
  chain_hash: string;
  [member: string]: unknown;
}

export interface ReadTokenAnswer {
  session_id: string;
  read_token: string;
  /** ms since the epoch */
  expires_at: number;
}

export interface PublicKeyAnswer {
  algorithm: "ed25519";
  /** base64 of the 32 raw bytes */
  public_key: string;
}

export interface RetryOptions {
  /** attempts after the first (default 5) */
  retries?: number;
  /** the first backoff cap (default 250 ms), doubled each attempt */
  minDelayMs?: number;
  /** the largest backoff cap (default 30000 ms) */
  maxDelayMs?: number;
}

export interface AutoFlushOptions {
  /** send when this many events are queued (default 50, at most 1000) */
  maxEvents?: number;
  /** send at most this long after the first queued event (default 1000 ms) */
  maxDelayMs?: number;
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface ClientOptions {
  /** pipetrackd's base URL, e.g. https://track.example.com */
  url: string;
  /** the ingest key (--ingest-key): may only track; safe in browser code */
  ingestKey?: string | null;
  /** the API token (--api-token): server code only, never in a browser */
  token?: string | null;
  /** a session's read token, for reads from a page */
  readToken?: string | null;
  fetch?: FetchLike;
  /** queue tracked events and send them in batches */
  autoFlush?: AutoFlushOptions | boolean;
  /** false: no retries */
  retry?: RetryOptions | false;
  /** the default auto_snapshot of track requests (the server's --auto-snapshot otherwise) */
  autoSnapshot?: boolean;
  /** extra headers on every request (traceparent, x-request-id) */
  headers?: Record<string, string>;
  /** with autoFlush in a browser: send the queue on pagehide / hidden (default true) */
  flushOnPageHide?: boolean;
  /** errors nobody awaits: queued events refused or not deliverable yet, tracking inside tracedStep */
  onError?: (error: PipetrackError | Error, events: PipelineEvent[] | null) => void;
}

export interface TrackOptions {
  autoSnapshot?: boolean;
}

export interface SessionRef {
  sessionId: string;
  pipelineType: string;
}

export interface TracedStepOptions<T> {
  /** what to store as `result` (default: the value itself, as JSON) */
  output?: (result: T) => unknown;
}

export interface StatusOptions {
  etag?: string | null;
  pipelineType?: string;
  readToken?: string;
  eventsLimit?: number;
  historyLimit?: number;
}

export declare class PipetrackError extends Error {
  constructor(init: { status: number; code: string; message: string; field?: string | null; retryAfterMs?: number | null; cause?: unknown });
  readonly name: "PipetrackError";
  /** HTTP status; 0 when no answer came */
  status: number;
  /** the server's code (`invalid_request`, `rate_limited`, …), `network_error`, `stream_failed` */
  code: string;
  /** the member at fault (`event.status`, `events[3].step`), or null */
  field: string | null;
  /** what Retry-After asked, in ms */
  retryAfterMs: number | null;
  /** no answer, 429, or 5xx */
  readonly retryable: boolean;
}

export declare class BoundSession implements SessionRef {
  readonly client: PipetrackClient;
  readonly sessionId: string;
  readonly pipelineType: string;
  /** Tracks `step` with `status`; `extra` may add id, ts, input, output, error. */
  track(step: string, status: StepStatus, extra?: Partial<Pick<PipelineEvent, "id" | "ts" | "input" | "output" | "error">>, options?: TrackOptions): Promise<TrackAnswer>;
  tracedStep<T>(step: string, fn: () => T | Promise<T>, options?: TracedStepOptions<T>): Promise<T>;
  /** the read token the answer that created the session handed out, if this client saw it */
  readonly readToken: string | null;
  status(options?: StatusOptions): Promise<StatusResult>;
}

export declare class PipetrackClient {
  constructor(options: ClientOptions);
  readonly url: string;
  /** Tracks one event (given an id first); queued when autoFlush is on. */
  track(event: PipelineEvent, options?: TrackOptions): Promise<TrackAnswer>;
  /** Batches of at most 1000; refused events come back as results, not exceptions. */
  trackBatch(events: PipelineEvent[], options?: TrackOptions): Promise<BatchAnswer>;
  session(sessionId: string, pipelineType: string): BoundSession;
  tracedStep<T>(session: SessionRef, step: string, fn: () => T | Promise<T>, options?: TracedStepOptions<T>): Promise<T>;
  /** Resolves once everything queued before it is answered; rejects (keeping them queued) when the server cannot be reached. */
  flush(): Promise<void>;
  /** Flushes, then stops; later tracks reject. When the last flush fails it rejects, and the queued events' track() promises reject with code "not_delivered". */
  close(): Promise<void>;
  /** The queue's last send as a page goes away (called for you on pagehide / hidden). */
  sendOnPageHide(options?: { transport?: "auto" | "fetch" | "beacon" }): void;
  /** Events queued, not yet sent. */
  readonly pending: number;
  readTokenFor(sessionId: string): string | null;
  status(sessionId: string, options?: StatusOptions): Promise<StatusResult>;
  report(sessionId: string, options?: { readToken?: string }): Promise<Report>;
  /** POST /api/pipeline/read_token (API token). */
  createReadToken(sessionId: string): Promise<ReadTokenAnswer>;
  publicKey(): Promise<PublicKeyAnswer>;
}

export declare function createClient(options: ClientOptions): PipetrackClient;
export declare function tracedStep<T>(client: PipetrackClient, session: SessionRef, step: string, fn: () => T | Promise<T>, options?: TracedStepOptions<T>): Promise<T>;
export declare function newEventId(): string;
export declare function withId<E extends PipelineEvent>(event: E): E & { id: string };
export declare function backoffDelay(attempt: number, policy: Required<RetryOptions>, retryAfterMs?: number | null, random?: () => number): number;
export declare function parseRetryAfter(value: string | null | undefined, now?: number): number | null;
export declare const MAX_BATCH: 1000;

export declare class CanonicalizationError extends TypeError {}
/** RFC 8785 canonical JSON text of a JSON value. */
export declare function canonicalize(value: unknown): string;
export declare function sha256Hex(text: string): Promise<string>;

export declare const GENESIS: "GENESIS";
export declare function chainHashOf(sessionId: string, link: string): Promise<string>;
export interface ChainStep {
  input_sha256: string;
  output_sha256: string;
  input_n: string;
  output_n: string;
  link: string;
}
export declare function chainStep(event: Partial<StoredEvent> | PipelineEvent, prevLink: string, options?: { trustDigests?: boolean }): Promise<ChainStep>;

export interface ChainMismatch {
  /** position in the array given */
  index: number;
  /** the event's seq (its index when it has none); null for the chain hash */
  seq: number | null;
  event_id: string | null;
  field: "event" | "session_id" | "seq" | "input_sha256" | "output_sha256" | "link" | "chain_hash";
  expected: unknown;
  actual: unknown;
  reason: string;
}

export interface ChainVerification {
  ok: boolean;
  session_id: string;
  event_count: number;
  last_link: string;
  /** computed; null when a mismatch stopped the walk */
  chain_hash: string | null;
  /** the first mismatch, or null */
  mismatch: ChainMismatch | null;
}

/** Recomputes a session's chain from all its events (from seq 0) and names the first mismatch. */
export declare function verifyChain(
  events: ReadonlyArray<Partial<StoredEvent> & Pick<StoredEvent, "id" | "step" | "status">>,
  options?: { sessionId?: string; chainHash?: string },
): Promise<ChainVerification>;

/** A public key: base64 of the 32 raw bytes, /api/pipeline/pubkey's answer, the raw bytes, or an imported CryptoKey. */
export type PublicKeyInput = string | PublicKeyAnswer | Uint8Array | CryptoKey;

/** Checks a track answer's (or a stored batch result's) receipt. */
export declare function verifyReceipt(answer: { event: Pick<StoredEvent, "session_id" | "seq" | "link">; receipt: string | null }, publicKey: PublicKeyInput): Promise<boolean>;
/** Checks a registry entry's signature. */
export declare function verifyEntry(entry: RegistryEntry, publicKey: PublicKeyInput): Promise<boolean>;
