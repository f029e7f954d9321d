// index.js - @pipetrack/client: the entry point for browsers and servers.
export { createClient, tracedStep, newEventId, withId, backoffDelay, PipetrackClient, BoundSession, MAX_BATCH } from "./client.js";
export { PipetrackError, parseRetryAfter } from "./errors.js";
export { canonicalize, CanonicalizationError } from "./jcs.js";
export { verifyChain, verifyReceipt, verifyEntry, chainStep, chainHashOf, GENESIS } from "./verify.js";
export { sha256Hex } from "./webcrypto.js";
