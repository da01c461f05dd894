// hf_text_generation_stream.mjs: textGenerationStream with
// @huggingface/inference against BASE_URL as endpointUrl (TGI
// /generate_stream). Env (besides lib.mjs): INPUT, MAX_NEW_TOKENS,
// EXTRA_PARAMETERS.
// Prints {"ok":true,"tokens":[token texts in arrival order],"events",
// "generated_text","finish_reason"}; an error before or during the stream
// gives {"ok":false,"error":{...}} with the tokens received until then.
import { describeError, emit, inputText } from "./lib.mjs";
import { callOptions, hfClient, modelArg, parameters } from "./hf_client.mjs";

const client = hfClient();
const tokens = [];
let events = 0;
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
      tokens.push(ev.token.text);
    }
    if (typeof ev.generated_text === "string") {
      generatedText = ev.generated_text;
    }
    if (ev.details?.finish_reason) {
      finishReason = ev.details.finish_reason;
    }
  }
  emit({ ok: true, tokens, events, generated_text: generatedText, finish_reason: finishReason });
} catch (err) {
  emit({ ok: false, error: describeError(err), tokens, events });
}
