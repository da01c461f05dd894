// hf_feature_extraction.mjs: featureExtraction with @huggingface/inference
// against BASE_URL as endpointUrl. Env (besides lib.mjs): INPUT (one string)
// or INPUT_JSON (a JSON string or array of strings), EXTRA_BODY (a JSON
// object merged into the request, e.g. {"normalize":false}).
// Prints {"ok":true,"shape":[...],"vectors":[{"length","first":[...]}]} where
// vectors are the innermost arrays in order (at most 16), or
// {"ok":false,"error":{...}}.
import { emit, env, envJSON, fail, summarizeVector } from "./lib.mjs";
import { callOptions, hfClient, modelArg } from "./hf_client.mjs";

// shapeOf follows the first element at each depth; the client has already
// checked the array is numeric and at most 4 levels deep.
function shapeOf(a) {
  const shape = [];
  let cur = a;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0];
  }
  return shape;
}

function innermost(a, out) {
  if (out.length >= 16) return out;
  if (Array.isArray(a) && a.length > 0 && Array.isArray(a[0])) {
    for (const x of a) innermost(x, out);
  } else {
    out.push(summarizeVector(a));
  }
  return out;
}

const client = hfClient();
try {
  const inputs = envJSON("INPUT_JSON") ?? env("INPUT", "Today is a sunny day.");
  const out = await client.featureExtraction({ ...modelArg(), inputs, ...(envJSON("EXTRA_BODY") ?? {}) }, callOptions());
  emit({ ok: true, shape: shapeOf(out), vectors: Array.isArray(out) ? innermost(out, []) : [] });
} catch (err) {
  fail(err);
}
