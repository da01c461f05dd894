// completions_stream.mjs: one streaming legacy completion (POST /completions,
// stream: true) with the official openai client. Env (besides lib.mjs):
// INPUT (prompt), MAX_TOKENS, EXTRA_BODY.
// Prints {"ok":true,"chunks":[text pieces in arrival order],"text","events",
// "objects":[distinct chunk objects],"finish_reason","model","model_header"}
// or {"ok":false,"error":{...}} with the chunks received until then.
import { emit, describeError, inputText, optionalNumber } from "./lib.mjs";
import { extraBody, openaiClient, requestModel } from "./openai_client.mjs";

const client = openaiClient();
const chunks = [];
const objects = new Set();
let events = 0;
let finishReason = null;
let model = null;
let modelHeader = null;
try {
  const { data: stream, response } = await client.completions
    .create({
      model: requestModel(),
      prompt: inputText("Once upon a time"),
      max_tokens: optionalNumber("MAX_TOKENS"),
      stream: true,
      ...extraBody(),
    })
    .withResponse();
  modelHeader = response.headers.get("x-kong-llm-model");
  for await (const chunk of stream) {
    events++;
    if (chunk.object) objects.add(chunk.object);
    if (chunk.model) model = chunk.model;
    const choice = chunk.choices?.[0];
    if (!choice) continue;
    if (typeof choice.text === "string" && choice.text !== "") chunks.push(choice.text);
    if (choice.finish_reason) finishReason = choice.finish_reason;
  }
  emit({ ok: true, chunks, text: chunks.join(""), events, objects: [...objects], finish_reason: finishReason, model, model_header: modelHeader });
} catch (err) {
  emit({ ok: false, error: describeError(err), chunks, events, model_header: modelHeader });
}
