// hf_text_generation.mjs: textGeneration with @huggingface/inference against
// BASE_URL as endpointUrl. Env (besides lib.mjs): INPUT, MAX_NEW_TOKENS,
// EXTRA_PARAMETERS.
// Prints {"ok":true,"generated_text","finish_reason","generated_tokens"} or
// {"ok":false,"error":{...}}. finish_reason and generated_tokens come from
// TGI's "details", which only the pinned client returns (newer ones return
// {generated_text} alone): null otherwise.
import { emit, fail, inputText } from "./lib.mjs";
import { callOptions, hfClient, modelArg, parameters } from "./hf_client.mjs";

const client = hfClient();
try {
  const out = await client.textGeneration(
    { ...modelArg(), inputs: inputText("What is Deep Learning?"), ...parameters() },
    callOptions(),
  );
  emit({
    ok: true,
    generated_text: out.generated_text,
    finish_reason: out.details?.finish_reason ?? null,
    generated_tokens: out.details?.generated_tokens ?? null,
  });
} catch (err) {
  fail(err);
}
