// typed-usage.ts - checked by `tsc --noEmit` (types.test.mjs): the package
// used as an application would use it, through its published entry points.
import {
  createClient,
  PipetrackError,
  verifyChain,
  verifyReceipt,
  type BatchAnswer,
  type PipelineEvent,
  type StatusSummary,
  type TrackAnswer,
} from "@pipetrack/client";
import { usePipelineStatus, usePipelineStream } from "@pipetrack/client/react";

const client = createClient({
  url: "http://127.0.0.1:8080",
  ingestKey: "ik_browser_safe",
  autoFlush: { maxEvents: 20, maxDelayMs: 500 },
  retry: { retries: 3 },
  onError: (e, events) => console.warn(e.message, events?.length ?? 0),
});

const event: PipelineEvent = { session_id: "chk_1", pipeline_type: "checkout_digital", step: "checkout_started", status: "started", input: { cart_total: 42.5 } };

export async function run(): Promise<number> {
  const a: TrackAnswer = await client.track(event, { autoSnapshot: true });
  const seq: number = a.event.seq;
  const token: string | null | undefined = a.read_token;
  const batch: BatchAnswer = await client.trackBatch([event, { ...event, status: "success" }]);
  for (const r of batch.results) if ("error" in r && r.error) console.log(r.status, r.error.code, r.error.field);

  const checkout = client.session("chk_1", "checkout_digital");
  const charge: { id: string } = await checkout.tracedStep("payment_initiated", async () => ({ id: "ch_1" }));
  const n: number = await client.tracedStep({ sessionId: "chk_1", pipelineType: "checkout_digital" }, "payment_confirmed", () => 3);

  try {
    await client.track({ ...event, step: "nope" });
  } catch (e) {
    if (e instanceof PipetrackError) console.log(e.status, e.code, e.field, e.retryable);
  }

  const st = await client.status("chk_1", { etag: null });
  const summary: StatusSummary | null = st.data;
  const report = await client.report("chk_1");
  const chain = await verifyChain(report.events, { chainHash: report.chain_hash });
  if (!chain.ok && chain.mismatch) console.log(chain.mismatch.seq, chain.mismatch.field, chain.mismatch.reason);
  const pub = await client.publicKey();
  const good: boolean = await verifyReceipt(a, pub);
  await client.flush();
  await client.close();
  return seq + n + (good ? 1 : 0) + (summary ? summary.event_count : 0) + (token ? 1 : 0) + charge.id.length;
}

// hooks are plain functions to the type checker
export function statusLine(sessionId: string, readToken: string): string {
  const { data, error, terminal } = usePipelineStatus(sessionId, { url: "https://track.example.com", readToken });
  if (error) return error.message;
  if (!data) return "loading";
  return `${data.checksum.progress.percent}% ${terminal ? "done" : data.checksum.state}`;
}

export function streamLine(sessionId: string): string {
  const r = usePipelineStream(sessionId, { client, EventSource: null });
  return `${r.transport} ${r.data?.event_count ?? 0}`;
}
