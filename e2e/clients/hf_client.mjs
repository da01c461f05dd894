// Builds the @huggingface/inference client the way its docs point it at a
// dedicated endpoint (a TGI server, an Inference Endpoint, or here a Kong
// route): InferenceClient(token, { endpointUrl }). Version 4.13.16 (pinned in
// package.json) posts the task payload ({"inputs", "parameters"}, plus
// "stream": true for streams) to endpointUrl as it is, which is TGI's native
// /generate and /generate_stream protocol; 4.13.17 and later send OpenAI
// completions to <endpointUrl>/v1/completions instead.
import { InferenceClient } from "@huggingface/inference";
import { env, extraHeaders, headerFetch, requireEnv, timeoutMs, usageError } from "./lib.mjs";

export function hfClient() {
  return new InferenceClient(env("API_KEY", ""), { endpointUrl: requireEnv("BASE_URL") });
}

// callOptions turns off the client's default of retrying every 503 without
// limit (a test of "model is loading" must see the 503), bounds the call in
// time, and adds EXTRA_HEADERS.
export function callOptions() {
  return {
    retry_on_error: false,
    signal: AbortSignal.timeout(timeoutMs()),
    fetch: headerFetch(extraHeaders()),
  };
}

export function modelArg() {
  const m = env("MODEL", "");
  return m === "" ? {} : { model: m };
}

// parameters builds TGI's "parameters" from MAX_NEW_TOKENS and
// EXTRA_PARAMETERS (a JSON object merged in).
export function parameters() {
  const out = {};
  const max = env("MAX_NEW_TOKENS");
  if (max !== "") {
    const n = Number.parseInt(max, 10);
    if (!Number.isFinite(n)) usageError(`MAX_NEW_TOKENS must be an integer, got ${JSON.stringify(max)}`);
    out.max_new_tokens = n;
  }
  const raw = env("EXTRA_PARAMETERS");
  if (raw !== "") {
    let parsed;
    try {
      parsed = JSON.parse(raw);
    } catch (err) {
      usageError(`EXTRA_PARAMETERS is not JSON: ${err.message}`);
    }
    Object.assign(out, parsed);
  }
  return Object.keys(out).length ? { parameters: out } : {};
}
