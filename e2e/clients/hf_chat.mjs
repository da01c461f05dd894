// hf_chat.mjs: chatCompletion with @huggingface/inference against BASE_URL
// as endpointUrl (it posts OpenAI chat to <endpointUrl>/v1/chat/completions).
// Env (besides lib.mjs): INPUT (user message), MAX_TOKENS.
// Prints {"ok":true,"id","model","object","content","finish_reason","usage"}
// or {"ok":false,"error":{...}}.
import { emit, fail, inputText, optionalNumber } from "./lib.mjs";
import { callOptions, hfClient, modelArg } from "./hf_client.mjs";

const client = hfClient();
try {
  const out = await client.chatCompletion(
    {
      ...modelArg(),
      messages: [{ role: "user", content: inputText("What is 1 + 1?") }],
      max_tokens: optionalNumber("MAX_TOKENS"),
    },
    callOptions(),
  );
  const choice = out.choices?.[0];
  emit({
    ok: true,
    id: out.id ?? null,
    model: out.model ?? null,
    object: out.object ?? null,
    content: choice?.message?.content ?? null,
    finish_reason: choice?.finish_reason ?? null,
    usage: out.usage ?? null,
  });
} catch (err) {
  fail(err);
}
