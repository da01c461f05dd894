// Builds the @huggingface/inference client the way its docs point it at a
// dedicated endpoint (a TGI server, an Inference Endpoint, or here a Kong
// route): InferenceClient(token, { endpointUrl }). HF_PKG picks the version
// (lib.mjs). What each version sends with an endpointUrl:
//
//   textGeneration(Stream)  4.13.16 (pinned) posts TGI's task payload
//                           ({"inputs","parameters"}, "stream": true for a
//                           stream) to endpointUrl as it is. 4.13.17 and later
//                           post OpenAI completions to <endpointUrl>/v1/completions
//                           ({"model": MODEL or endpointUrl itself, "prompt",
//                           "max_tokens", other parameters at the top level})
//                           and expect {"choices":[{"text"}]}, or OpenAI
//                           completion chunks for a stream, which the client
//                           yields as they come.
//   chatCompletion(Stream)  both post OpenAI chat to
//                           <endpointUrl>/v1/chat/completions, with "model"
//                           MODEL or, when none is given, endpointUrl itself.
//   featureExtraction       both post {"inputs", ...} to endpointUrl as it is.
import { env, extraHeaders, headerFetch, importClient, requireEnv, timeoutMs, usageError } from "./lib.mjs";

const { InferenceClient } = await importClient("HF_PKG", "@huggingface/inference", ["@huggingface/inference", "hf-latest"]);

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
