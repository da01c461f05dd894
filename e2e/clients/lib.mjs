// Shared plumbing for the client scripts: every script reads its target from
// the environment, makes one call with an official client, and prints exactly
// one JSON line on stdout, so the Go end-to-end tests can assert on it
// without scraping human-readable output.
//
// Environment (all scripts):
//   BASE_URL       where the client points (a Kong route, or the fake upstream)
//   API_KEY        the client's credential (sent as "Authorization: Bearer ...")
//   MODEL          the model the client asks for; may be empty
//   TIMEOUT_MS     per-call timeout, default 15000
//   EXTRA_HEADERS  optional JSON object of extra request headers
//   HF_PKG         the npm package the @huggingface/inference scripts import:
//                  "@huggingface/inference" (the pinned version, default) or
//                  "hf-latest" (the newest, an npm alias in package.json)
//   OPENAI_PKG     the same for the openai scripts: "openai" or "openai-latest"
//
// Every JSON line carries "client": {"package", "version"}, the package the
// script imported and the version installed, so a test knows which client
// version it exercised.
//
// Exit status: 0 when a JSON line was printed (whether the call succeeded or
// the server answered an error: "ok" tells which), 2 for a usage error such
// as a missing BASE_URL (also reported as one JSON line).

import { readFileSync } from "node:fs";

export function env(name, fallback = "") {
  const v = process.env[name];
  return v === undefined ? fallback : v;
}

export function requireEnv(name) {
  const v = process.env[name];
  if (v === undefined || v === "") {
    usageError(`${name} is required`);
  }
  return v;
}

export function usageError(message) {
  process.stdout.write(JSON.stringify({ ok: false, usage_error: message }) + "\n");
  process.exit(2);
}

export function timeoutMs() {
  const raw = env("TIMEOUT_MS", "15000");
  const n = Number.parseInt(raw, 10);
  if (!Number.isFinite(n) || n <= 0) {
    usageError(`TIMEOUT_MS must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return n;
}

// envJSON parses the variable name as JSON; undefined when it is unset or
// empty, a usage error when it is not JSON.
export function envJSON(name) {
  const raw = env(name);
  if (raw === "") {
    return undefined;
  }
  try {
    return JSON.parse(raw);
  } catch (err) {
    usageError(`${name} is not JSON: ${err.message}`);
  }
}

// envObject is envJSON for a variable that must hold a JSON object ({} when
// unset); what says what the object maps, for the usage error.
export function envObject(name, what) {
  const parsed = envJSON(name);
  if (parsed === undefined) {
    return {};
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    usageError(`${name} must be a JSON object${what}`);
  }
  return parsed;
}

export function extraHeaders() {
  return envObject("EXTRA_HEADERS", " of header names to values");
}

// optionalNumber reads a numeric setting; unset or empty means "let the
// gateway's config decide", which is what several tests check.
export function optionalNumber(name) {
  const raw = env(name);
  if (raw === "") {
    return undefined;
  }
  const n = Number(raw);
  if (!Number.isFinite(n)) {
    usageError(`${name} must be a number, got ${JSON.stringify(raw)}`);
  }
  return n;
}

// client is what importClient loaded, reported on every line emit prints.
let client;

// importClient imports the client package named by the environment variable
// envName (default fallback) and records its installed version. Only the
// names package.json installs are accepted, so a typo is a usage error
// rather than a silent run of another version.
export async function importClient(envName, fallback, allowed) {
  const name = env(envName, fallback) || fallback;
  if (!allowed.includes(name)) {
    usageError(`${envName} must be one of ${allowed.join(", ")}, got ${JSON.stringify(name)}`);
  }
  const manifest = new URL(`./node_modules/${name}/package.json`, import.meta.url);
  let version;
  try {
    version = JSON.parse(readFileSync(manifest, "utf8")).version;
  } catch (err) {
    usageError(`${name} is not installed (run \`make deps\`): ${err.message}`);
  }
  client = { package: name, version };
  return import(name);
}

export function emit(result) {
  const line = client === undefined ? result : { ...result, client };
  process.stdout.write(JSON.stringify(line) + "\n");
}

// describeError turns whatever a client threw into the fields tests assert
// on. The OpenAI SDK throws APIError with status and the parsed error body;
// the Hugging Face client throws InferenceClientProviderApiError whose
// httpResponse carries status and body; anything else (network, timeout) has
// only a name and message.
export function describeError(err) {
  // The OpenAI SDK's classes (AuthenticationError, RateLimitError, ...)
  // keep name "Error"; their constructor name says which one it is.
  let name = err?.name ?? "Error";
  if (name === "Error" && err?.constructor?.name) name = err.constructor.name;
  const out = { name, message: String(err?.message ?? err) };
  if (typeof err?.status === "number") {
    out.status = err.status;
  }
  if (err?.error !== undefined && err?.error !== null) {
    // openai: err.error is the "error" object of the body.
    if (typeof err.error === "string") {
      // Hugging Face's {"error":"..."} bodies as the OpenAI SDK reports them.
      out.error_message = err.error;
    } else if (typeof err.error === "object") {
      if (err.error.message !== undefined) out.error_message = err.error.message;
      if (err.error.type !== undefined) out.type = err.error.type;
      if (err.error.code !== undefined) out.code = err.error.code;
    }
  }
  if (typeof err?.code === "string" && out.code === undefined) {
    out.code = err.code;
  }
  if (err?.headers && typeof err.headers.get === "function") {
    const retryAfter = err.headers.get("retry-after");
    if (retryAfter !== null) out.retry_after = retryAfter;
  }
  const hfResponse = err?.httpResponse;
  if (hfResponse && typeof hfResponse === "object") {
    // @huggingface/inference: httpResponse = { requestId, status, body }.
    if (typeof hfResponse.status === "number") out.status = hfResponse.status;
    if (hfResponse.body !== undefined && hfResponse.body !== "") out.body = hfResponse.body;
  }
  return out;
}

export function fail(err) {
  emit({ ok: false, error: describeError(err) });
}

// summarizeVector keeps tests' expectations short: the length of a vector
// and its first few components identify it well enough. Components are
// rounded to float32 so that a float answer and a base64 (float32) answer of
// the same vector print the same numbers.
export function summarizeVector(vec, n = 4) {
  const arr = Array.from(vec);
  return { length: arr.length, first: arr.slice(0, n).map((x) => (typeof x === "number" ? Math.fround(x) : x)) };
}

// decodeFloat32Base64 decodes OpenAI's base64 embedding encoding:
// little-endian float32 values.
export function decodeFloat32Base64(s) {
  const buf = Buffer.from(s, "base64");
  if (buf.length % 4 !== 0) {
    throw new Error(`base64 embedding has ${buf.length} bytes, not a multiple of 4`);
  }
  const out = new Array(buf.length / 4);
  for (let i = 0; i < out.length; i++) {
    out[i] = buf.readFloatLE(i * 4);
  }
  return out;
}

// headerFetch adds EXTRA_HEADERS to every request of clients that take a
// fetch implementation but no header option.
export function headerFetch(headers) {
  if (Object.keys(headers).length === 0) {
    return fetch;
  }
  return (url, init = {}) => {
    const merged = new Headers(init.headers ?? {});
    for (const [k, v] of Object.entries(headers)) {
      merged.set(k, String(v));
    }
    return fetch(url, { ...init, headers: merged });
  };
}

export function inputText(fallback) {
  return env("INPUT", fallback);
}
