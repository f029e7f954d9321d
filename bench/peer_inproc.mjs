// The seed design's in-process tracker ($PIPETRACK_PEER_DIR), driven the way
// bench_track drives libpipetrack: sessions of checkout_digital, one event
// per call, the same input payload, auto-snapshot off. Prints events/s.
// Usage: node bench/peer_inproc.mjs PEER_DIR [EVENTS]
import { pathToFileURL } from "node:url";
import path from "node:path";

const dir = process.argv[2];
const total = Number(process.argv[3] ?? 20000);
const { PipelineTracker } = await import(pathToFileURL(path.join(dir, "tracker.js")));
const { createPipelineEvent } = await import(pathToFileURL(path.join(dir, "events.js")));
const { PIPELINE_CHECKOUT_DIGITAL: def } = await import(pathToFileURL(path.join(dir, "constants.js")));

const tracker = new PipelineTracker({ autoSnapshot: false });
const steps = def.steps;
const input = { cart_id: "c_123", amount: 42.5, currency: "EUR" };
const t0 = process.hrtime.bigint();
for (let i = 0; i < total; i++) {
  const event = createPipelineEvent({
    session_id: `s${i % 100}_${Math.floor(i / 400)}`,
    pipeline_type: def.type,
    step: steps[Math.floor(i / 100) % 4],
    status: "success",
    input,
  });
  await tracker.trackEvent({ event, definition: def });
}
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`peer (seed design, Node ${process.version}, in-memory): ${Math.round(total / secs)} events/s over ${total} events`);
