// chat_stream.mjs: one streaming chat completion with the official openai
// client. Env (besides lib.mjs): INPUT, SYSTEM, MAX_TOKENS, TEMPERATURE,
// INCLUDE_USAGE (1 = stream_options.include_usage), EXTRA_BODY.
// Prints {"ok":true,"chunks":[content deltas in arrival order],"content",
// "events","finish_reason","tool_calls","usage","model","model_header"};
// an error before or during the stream gives {"ok":false,"error":{...}} with
// the chunks received until then.
import { emit, env, describeError, inputText, optionalNumber } from "./lib.mjs";
import { extraBody, openaiClient, requestModel } from "./openai_client.mjs";

const client = openaiClient();
const messages = [];
const system = env("SYSTEM");
if (system !== "") {
  messages.push({ role: "system", content: system });
}
messages.push({ role: "user", content: inputText("Say OK!") });

const chunks = [];
let events = 0;
let finishReason = null;
let usage = null;
let model = null;
let modelHeader = null;
// Tool-call deltas are merged by index the way applications do, so tests can
// compare the assembled call with the upstream's.
const toolCalls = [];

try {
  const { data: stream, response } = await client.chat.completions
    .create({
      model: requestModel(),
      messages,
      max_tokens: optionalNumber("MAX_TOKENS"),
      temperature: optionalNumber("TEMPERATURE"),
      stream: true,
      ...(env("INCLUDE_USAGE") === "1" ? { stream_options: { include_usage: true } } : {}),
      ...extraBody(),
    })
    .withResponse();
  modelHeader = response.headers.get("x-kong-llm-model");
  for await (const chunk of stream) {
    events++;
    if (chunk.model) model = chunk.model;
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices?.[0];
    if (!choice) continue;
    const delta = choice.delta ?? {};
    if (typeof delta.content === "string" && delta.content !== "") {
      chunks.push(delta.content);
    }
    for (const tc of delta.tool_calls ?? []) {
      const slot = (toolCalls[tc.index] ??= { id: "", type: "function", function: { name: "", arguments: "" } });
      if (tc.id) slot.id = tc.id;
      if (tc.type) slot.type = tc.type;
      // As the SDK's own ChatCompletionStream: a name replaces, arguments append.
      if (tc.function?.name) slot.function.name = tc.function.name;
      if (tc.function?.arguments) slot.function.arguments += tc.function.arguments;
    }
    if (choice.finish_reason) finishReason = choice.finish_reason;
  }
  emit({
    ok: true,
    chunks,
    content: chunks.join(""),
    events,
    finish_reason: finishReason,
    tool_calls: toolCalls.length ? toolCalls : null,
    usage,
    model,
    model_header: modelHeader,
  });
} catch (err) {
  emit({ ok: false, error: describeError(err), chunks, events, model_header: modelHeader });
}
