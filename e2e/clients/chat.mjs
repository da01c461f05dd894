// chat.mjs: one non-streaming chat completion with the official openai
// client. Env (besides lib.mjs): INPUT (user message), SYSTEM (optional
// system message), MAX_TOKENS, TEMPERATURE, EXTRA_BODY.
// Prints {"ok":true,"id","model","object","content","finish_reason",
// "tool_calls","usage","model_header"} or {"ok":false,"error":{...}}.
import { emit, env, fail, inputText, optionalNumber } from "./lib.mjs";
import { extraBody, openaiClient, requestModel } from "./openai_client.mjs";

const client = openaiClient();
const messages = [];
const system = env("SYSTEM");
if (system !== "") {
  messages.push({ role: "system", content: system });
}
messages.push({ role: "user", content: inputText("What is 1 + 1?") });

try {
  const { data, response } = await client.chat.completions
    .create({
      model: requestModel(),
      messages,
      max_tokens: optionalNumber("MAX_TOKENS"),
      temperature: optionalNumber("TEMPERATURE"),
      ...extraBody(),
    })
    .withResponse();
  const choice = data.choices?.[0];
  emit({
    ok: true,
    id: data.id,
    model: data.model,
    object: data.object,
    content: choice?.message?.content ?? null,
    finish_reason: choice?.finish_reason ?? null,
    tool_calls: choice?.message?.tool_calls ?? null,
    usage: data.usage ?? null,
    model_header: response.headers.get("x-kong-llm-model"),
  });
} catch (err) {
  fail(err);
}
