// Module Web Worker for the browser test page: imports the package, runs the model once on the
// tensor it is sent and posts back the logits, top-5, placement and diagnostics.
import { topK } from './synthetic.mjs';

self.onmessage = async ({ data: msg }) => {
  try {
    const { InferenceSession, Tensor, env } = await import(msg.pkg);
    const t0 = performance.now();
    const session = await InferenceSession.create(msg.model, msg.threads === undefined ? {} : { threads: msg.threads });
    const t1 = performance.now();
    const out = await session.run({ [session.inputNames[0]]: new Tensor('float32', msg.data, msg.dims) });
    const t2 = performance.now();
    const logits = out[session.outputNames[0]];
    const result = {
      logits: Array.from(logits.data),
      dims: Array.from(logits.dims),
      top5: topK(logits.data, 5),
      // Plain data only (postMessage clones it).
      placement: JSON.parse(JSON.stringify(session.placement ?? null)),
      diagnostics: JSON.parse(JSON.stringify(env.diagnostics ?? null)),
      crossOriginIsolated: self.crossOriginIsolated === true,
      latency: { createMs: t1 - t0, firstRunMs: t2 - t1 },
    };
    await session.release();
    self.postMessage(result);
  } catch (e) {
    self.postMessage({ error: e && e.message ? e.message : String(e) });
  }
};
