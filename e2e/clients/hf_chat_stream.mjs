// hf_chat_stream.mjs: chatCompletionStream with @huggingface/inference
// against BASE_URL as endpointUrl (OpenAI chat with "stream": true to
// <endpointUrl>/v1/chat/completions). Env (besides lib.mjs): INPUT,
// MAX_TOKENS.
// Prints {"ok":true,"chunks":[content deltas in arrival order],"content",
// "events","finish_reason","model"}; an error before or during the stream
// gives {"ok":false,"error":{...}} with the chunks received until then.
import { describeError, emit, inputText, optionalNumber } from "./lib.mjs";
import { callOptions, hfClient, modelArg } from "./hf_client.mjs";

const client = hfClient();
const chunks = [];
let events = 0;
let finishReason = null;
let model = null;
try {
  const stream = client.chatCompletionStream(
    {
      ...modelArg(),
      messages: [{ role: "user", content: inputText("Say OK!") }],
      max_tokens: optionalNumber("MAX_TOKENS"),
    },
    callOptions(),
  );
  for await (const chunk of stream) {
    events++;
    if (chunk.model) model = chunk.model;
    const choice = chunk.choices?.[0];
    if (!choice) continue;
    const content = choice.delta?.content;
    if (typeof content === "string" && content !== "") chunks.push(content);
    if (choice.finish_reason) finishReason = choice.finish_reason;
  }
  emit({ ok: true, chunks, content: chunks.join(""), events, finish_reason: finishReason, model });
} catch (err) {
  emit({ ok: false, error: describeError(err), chunks, events });
}
