// Builds the OpenAI client the way an application would point it at Kong:
// baseURL = the route, the gateway's consumer key as apiKey. Retries are off
// so that a test sees exactly one request per call and every upstream error
// as it arrives. OPENAI_PKG picks the version (lib.mjs).
import { env, envObject, extraHeaders, importClient, requireEnv, timeoutMs } from "./lib.mjs";

const { default: OpenAI } = await importClient("OPENAI_PKG", "openai", ["openai", "openai-latest"]);

export function openaiClient() {
  return new OpenAI({
    baseURL: requireEnv("BASE_URL"),
    apiKey: env("API_KEY", "unused"),
    maxRetries: 0,
    timeout: timeoutMs(),
    defaultHeaders: extraHeaders(),
  });
}

// requestModel is MODEL, or undefined when MODEL is unset or empty: the
// request body then carries no model at all, and ai-proxy must take the one
// from its config (tests check both ways).
export function requestModel() {
  const m = env("MODEL", "");
  return m === "" ? undefined : m;
}

// extraBody reads EXTRA_BODY, a JSON object merged into the request body, so
// a test can send fields this script does not know (tools, stop, seed, ...).
export function extraBody() {
  return envObject("EXTRA_BODY", "");
}
