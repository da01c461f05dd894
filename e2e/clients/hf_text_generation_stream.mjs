// hf_text_generation_stream.mjs: textGenerationStream with
// @huggingface/inference against BASE_URL as endpointUrl. Env (besides
// lib.mjs): INPUT, MAX_NEW_TOKENS, EXTRA_PARAMETERS.
// The client yields the events as the server sent them: TGI token events
// ({"token":{"text"},"generated_text","details"}) from the pinned client's
// /generate_stream or compat route, OpenAI completion chunks
// ({"choices":[{"text","finish_reason"}]}) from newer clients'
// /v1/completions. Both are read, and "format" says which came.
// Prints {"ok":true,"format":"tgi"|"openai","tokens":[token texts in arrival
// order],"text":tokens joined,"events","generated_text" (TGI's final event;
// null for OpenAI chunks),"finish_reason"}; an error before or during the
// stream gives {"ok":false,"error":{...}} with the tokens received until then.
import { describeError, emit, inputText } from "./lib.mjs";
import { callOptions, hfClient, modelArg, parameters } from "./hf_client.mjs";

const client = hfClient();
const tokens = [];
let events = 0;
let format = null;
let generatedText = null;
let finishReason = null;
try {
  const stream = client.textGenerationStream(
    { ...modelArg(), inputs: inputText("What is Deep Learning?"), ...parameters() },
    callOptions(),
  );
  for await (const ev of stream) {
    events++;
    if (ev.token && typeof ev.token.text === "string") {
      format = "tgi";
      tokens.push(ev.token.text);
    }
    if (typeof ev.generated_text === "string") {
      generatedText = ev.generated_text;
    }
    if (ev.details?.finish_reason) {
      finishReason = ev.details.finish_reason;
    }
    const choice = Array.isArray(ev.choices) ? ev.choices[0] : undefined;
    if (choice) {
      format = "openai";
      if (typeof choice.text === "string" && choice.text !== "") tokens.push(choice.text);
      if (choice.finish_reason) finishReason = choice.finish_reason;
    }
  }
  emit({ ok: true, format, tokens, text: tokens.join(""), events, generated_text: generatedText, finish_reason: finishReason });
} catch (err) {
  emit({ ok: false, error: describeError(err), tokens, events });
}
