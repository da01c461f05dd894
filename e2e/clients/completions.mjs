// completions.mjs: one non-streaming legacy completion (POST /completions)
// with the official openai client. Env (besides lib.mjs): INPUT (prompt),
// MAX_TOKENS, TEMPERATURE, EXTRA_BODY.
// Prints {"ok":true,"id","model","object","text","finish_reason","usage",
// "model_header"} or {"ok":false,"error":{...}}.
import { emit, fail, inputText, optionalNumber } from "./lib.mjs";
import { extraBody, openaiClient, requestModel } from "./openai_client.mjs";

const client = openaiClient();
try {
  const { data, response } = await client.completions
    .create({
      model: requestModel(),
      prompt: inputText("What are you?"),
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
    text: choice?.text ?? null,
    finish_reason: choice?.finish_reason ?? null,
    usage: data.usage ?? null,
    model_header: response.headers.get("x-kong-llm-model"),
  });
} catch (err) {
  fail(err);
}
