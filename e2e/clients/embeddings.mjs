// embeddings.mjs: one embeddings call with the official openai client.
// Env (besides lib.mjs): INPUT (one string) or INPUT_JSON (a JSON string or
// array of strings), DIMENSIONS, and ENCODING_FORMAT:
//   float   the request asks for floats; the answer must carry arrays
//   base64  the request asks for base64; the answer must carry strings,
//           decoded here as little-endian float32
//   unset   the SDK's own default: it asks for base64 and decodes it itself,
//           which is what most applications get
// Prints {"ok":true,"object","model","count","encoding_format","raw_types",
// "vectors":[{"index","length","first":[...]}],"usage"} or
// {"ok":false,"error":{...}}.
import { decodeFloat32Base64, emit, env, fail, optionalNumber, summarizeVector, usageError } from "./lib.mjs";
import { extraBody, openaiClient, requestModel } from "./openai_client.mjs";

function readInput() {
  const raw = env("INPUT_JSON");
  if (raw !== "") {
    try {
      return JSON.parse(raw);
    } catch (err) {
      usageError(`INPUT_JSON is not JSON: ${err.message}`);
    }
  }
  return env("INPUT", "The food was delicious and the waiter was friendly.");
}

const format = env("ENCODING_FORMAT");
if (!["", "float", "base64"].includes(format)) {
  usageError(`ENCODING_FORMAT must be float, base64 or unset, got ${JSON.stringify(format)}`);
}

const client = openaiClient();
try {
  const data = await client.embeddings.create({
    model: requestModel(),
    input: readInput(),
    ...(format !== "" ? { encoding_format: format } : {}),
    dimensions: optionalNumber("DIMENSIONS"),
    ...extraBody(),
  });
  const rawTypes = [];
  const vectors = (data.data ?? []).map((item) => {
    let vec = item.embedding;
    if (typeof vec === "string") {
      rawTypes.push("string");
      vec = decodeFloat32Base64(vec);
    } else if (vec instanceof Float32Array) {
      // The SDK decoded base64 itself (ENCODING_FORMAT unset).
      rawTypes.push("float32array");
    } else {
      rawTypes.push(Array.isArray(vec) ? "array" : typeof vec);
    }
    return { index: item.index, object: item.object, ...summarizeVector(vec) };
  });
  emit({
    ok: true,
    object: data.object,
    model: data.model,
    count: vectors.length,
    encoding_format: format === "" ? "sdk-default" : format,
    raw_types: rawTypes,
    vectors,
    usage: data.usage ?? null,
  });
} catch (err) {
  fail(err);
}
