package schema

// The configuration schema of Kong's ai-proxy plugin as of Kong 3.13
// (kong/llm/schemas/init.lua, kong/plugins/ai-proxy/schema.lua and the
// published 3.13 schema), narrowed to what this plugin serves: provider
// huggingface and the route types of RouteTypes. Every field Kong accepts
// is declared, including the other providers' auth fields and option
// blocks, so that a Kong ai-proxy config for Hugging Face loads unchanged;
// those are accepted and ignored.

// PluginName is the plugin's default name: the binary's base name.
const PluginName = "ai-proxy-hf"

// The route types this plugin serves (config.route_type).
const (
	RouteChat        = "llm/v1/chat"
	RouteCompletions = "llm/v1/completions"
	RouteEmbeddings  = "llm/v1/embeddings"
	RouteVideo       = "video/v1/videos/generations"
	RoutePreserve    = "preserve"
)

// RouteTypes lists config.route_type's allowed values, in declaration order.
var RouteTypes = []string{RouteChat, RouteCompletions, RouteEmbeddings, RouteVideo, RoutePreserve}

// The generative AI categories (config.genai_category). Kong 3.13 accepts
// all six; which one a route type takes is enforced by entity checks.
const (
	CategoryTextGeneration     = "text/generation"
	CategoryTextEmbeddings     = "text/embeddings"
	CategoryImageGeneration    = "image/generation"
	CategoryAudioSpeech        = "audio/speech"
	CategoryAudioTranscription = "audio/transcription"
	CategoryVideoGeneration    = "video/generation"
)

// The request/response formats (config.llm_format). Kong also knows
// bedrock, gemini, cohere and anthropic; this plugin cannot honour them,
// so they are refused rather than silently treated as openai.
const (
	FormatOpenAI      = "openai"
	FormatHuggingFace = "huggingface"
)

// ProviderHuggingFace is the only config.model.provider accepted.
const ProviderHuggingFace = "huggingface"

// DefaultMaxRequestBodySize is config.max_request_body_size's default
// (Kong 3.13: 1 MiB; 0 means unlimited).
const DefaultMaxRequestBodySize = 1048576

// maxInt32 bounds integers that the typed Config holds in an int, and is
// the largest value Kong's integer fields can safely carry everywhere.
const maxInt32 = 2147483647

// upstreamURLPattern is the Lua pattern config.model.options.upstream_url
// must match: an absolute http(s) URL with a non-empty authority and no
// whitespace. Kong's own ai-proxy uses typedefs.url, a Lua function the
// dump cannot carry; a pattern lets Kong enforce the rule too. (One
// leading authority byte, then anything but whitespace: equivalent to
// "[^%s/?#]+[^%s]*" but backtracks in linear time.)
const upstreamURLPattern = "^https?://[^%s/?#][^%s]*$"

// httpProtocols is typedefs.protocols_http of Kong OSS: the protocols a
// plugin on an HTTP route may run for.
var httpProtocols = []string{"grpc", "grpcs", "http", "https"}

// Definition returns the plugin schema under the given plugin name (the
// binary's base name, so that renaming the binary renames the plugin).
// Each call returns a fresh value; callers may not share mutations.
func Definition(name string) *Schema {
	return &Schema{
		Name: name,
		Fields: []Field{
			{Name: "protocols", Type: Set, Required: true,
				Default:     anyList(httpProtocols),
				Description: "A set of strings representing HTTP protocols.",
				Elements:    &Field{Type: String, OneOf: httpProtocols}},
			configRecord(),
		},
		EntityChecks: []Check{
			// Native Hugging Face (TGI /generate, /generate_stream) bodies
			// exist only for text generation.
			{Conditional: &Conditional{
				IfField: "config.llm_format", IfMatch: Match{Eq: FormatHuggingFace},
				ThenField: "config.route_type", ThenMatch: Match{Eq: RouteChat},
			}},
		},
	}
}

func configRecord() Field {
	return Field{
		Name: "config", Type: Record, Required: true,
		Description: "The ai-proxy configuration: a Kong ai-proxy config for provider huggingface.",
		Fields: []Field{
			{Name: "route_type", Type: String, Required: true, OneOf: RouteTypes,
				Description: "The model's operation implementation, for this provider. " +
					"Set to `preserve` to pass through without transformation."},
			{Name: "genai_category", Type: String, Default: CategoryTextGeneration,
				OneOf: []string{CategoryTextGeneration, CategoryTextEmbeddings, CategoryImageGeneration,
					CategoryAudioSpeech, CategoryAudioTranscription, CategoryVideoGeneration},
				Description: "Generative AI category of the request. It must fit route_type: " +
					"text/generation for chat and completions, text/embeddings for embeddings, " +
					"video/generation for video generations; any with preserve."},
			{Name: "llm_format", Type: String, Default: FormatOpenAI,
				OneOf: []string{FormatOpenAI, FormatHuggingFace},
				Description: "LLM input and output format and schema to use. `huggingface` " +
					"(native TGI /generate and /generate_stream) requires route_type llm/v1/chat."},
			authRecord(),
			modelRecord(),
			loggingRecord(),
			{Name: "response_streaming", Type: String, Default: "allow",
				OneOf: []string{"allow", "deny", "always"},
				Description: "Whether to 'optionally allow', 'deny', or 'always' (force) " +
					"the streaming of answers via server sent events."},
			{Name: "max_request_body_size", Type: Integer, Default: DefaultMaxRequestBodySize,
				Between: &Range{0, maxInt32},
				Description: "max allowed body size allowed to be introspected. 0 means unlimited, " +
					"but the size of this body will still be limited by Nginx's client_max_body_size."},
			{Name: "model_name_header", Type: Boolean, Default: true,
				Description: "Display the model name selected in the X-Kong-LLM-Model response header"},
		},
		EntityChecks: []Check{
			{MutuallyRequired: []string{"auth.header_name", "auth.header_value"}},
			{MutuallyRequired: []string{"auth.param_name", "auth.param_value", "auth.param_location"}},
			// genai_category must fit route_type (Kong's route_type ↔
			// genai_category table); preserve takes any category.
			{Conditional: &Conditional{
				IfField: "route_type", IfMatch: Match{OneOf: []string{RouteChat, RouteCompletions}},
				ThenField: "genai_category", ThenMatch: Match{Eq: CategoryTextGeneration},
			}},
			{Conditional: &Conditional{
				IfField: "route_type", IfMatch: Match{Eq: RouteEmbeddings},
				ThenField: "genai_category", ThenMatch: Match{Eq: CategoryTextEmbeddings},
			}},
			{Conditional: &Conditional{
				IfField: "route_type", IfMatch: Match{Eq: RouteVideo},
				ThenField: "genai_category", ThenMatch: Match{Eq: CategoryVideoGeneration},
			}},
		},
	}
}

func authRecord() Field {
	str := func(name, desc string, secret bool) Field {
		return Field{Name: name, Type: String, Description: desc, Referenceable: true, Encrypted: secret}
	}
	return Field{
		Name: "auth", Type: Record,
		Description: "How the plugin authenticates to the AI provider. For Hugging Face: " +
			"header_name/header_value (Authorization: Bearer hf_...) or param_name/param_value/param_location.",
		Fields: []Field{
			str("header_name", "If AI model requires authentication via Authorization or API key header, "+
				"specify its name here.", false),
			str("header_value", "Specify the full auth header value for 'header_name', for example "+
				"'Bearer key' or just 'key'.", true),
			str("param_name", "If AI model requires authentication via query parameter, specify its name here.", false),
			str("param_value", "Specify the full parameter value for 'param_name'.", true),
			{Name: "param_location", Type: String, OneOf: []string{"query", "body"},
				Description: "Specify whether the 'param_name' and 'param_value' options go in a query string, " +
					"or the POST form/JSON body."},
			{Name: "allow_override", Type: Boolean, Default: false,
				Description: "If enabled, the authorization header or parameter can be overridden in the " +
					"request by the value configured in the plugin."},
			{Name: "gcp_use_service_account", Type: Boolean, Default: false,
				Description: "Use service account auth for GCP-based providers and models. Ignored for huggingface."},
			str("gcp_service_account_json", "Set this field to the full JSON of the GCP service account to "+
				"authenticate, if required. Ignored for huggingface.", true),
			str("aws_access_key_id", "Set this if you are using an AWS provider (Bedrock) and you are "+
				"authenticating using static IAM User credentials. Ignored for huggingface.", true),
			str("aws_secret_access_key", "Set this if you are using an AWS provider (Bedrock) and you are "+
				"authenticating using static IAM User credentials. Ignored for huggingface.", true),
			{Name: "azure_use_managed_identity", Type: Boolean, Default: false,
				Description: "Set true to use the Azure Cloud Managed Identity (or user-assigned identity) " +
					"to authenticate with Azure-provider models. Ignored for huggingface."},
			str("azure_client_id", "If azure_use_managed_identity is set to true, and you need to use a "+
				"different user-assigned identity for this LLM instance, set the client ID. Ignored for huggingface.", false),
			str("azure_client_secret", "If azure_use_managed_identity is set to true, and you need to use a "+
				"different user-assigned identity for this LLM instance, set the client secret. Ignored for huggingface.", true),
			str("azure_tenant_id", "If azure_use_managed_identity is set to true, and you need to use a "+
				"different user-assigned identity for this LLM instance, set the tenant ID. Ignored for huggingface.", false),
		},
	}
}

func modelRecord() Field {
	return Field{
		Name: "model", Type: Record, Required: true,
		Description: "The model: provider (huggingface), name, and options merged into requests.",
		Fields: []Field{
			{Name: "provider", Type: String, Required: true, OneOf: []string{ProviderHuggingFace},
				Description: "AI provider request format - Kong translates requests to and from the " +
					"specified backend compatible formats. This plugin serves huggingface only."},
			{Name: "name", Type: String,
				Description: "Model name to execute, e.g. meta-llama/Llama-3.1-8B-Instruct. When unset, " +
					"the request body's model is used."},
			optionsRecord(),
		},
	}
}

func optionsRecord() Field {
	ignored := func(name string, t Type, desc string) Field {
		return Field{Name: name, Type: t, Description: desc + " Ignored for huggingface."}
	}
	return Field{
		Name: "options", Type: Record,
		Description: "Key/value settings for the model",
		Fields: []Field{
			{Name: "max_tokens", Type: Integer, Between: &Range{1, maxInt32},
				Description: "Defines the max_tokens, if using chat or completion models."},
			{Name: "input_cost", Type: Number, Gt: ptr(0.0),
				Description: "Defines the cost per 1M tokens in your prompt."},
			{Name: "output_cost", Type: Number, Gt: ptr(0.0),
				Description: "Defines the cost per 1M tokens in the output of the AI."},
			{Name: "temperature", Type: Number, Between: &Range{0, 5},
				Description: "Defines the matching temperature, if using chat or completion models."},
			{Name: "top_p", Type: Number, Between: &Range{0, 1},
				Description: "Defines the top-p probability mass, if supported."},
			{Name: "top_k", Type: Integer, Between: &Range{0, 500},
				Description: "Defines the top-k most likely tokens, if supported."},
			ignored("anthropic_version", String, "Defines the schema/API version, if using Anthropic provider."),
			ignored("azure_instance", String, "Instance name for Azure OpenAI hosted models."),
			{Name: "azure_api_version", Type: String, Default: "2023-05-15",
				Description: "'api-version' for Azure OpenAI instances. Ignored for huggingface."},
			ignored("azure_deployment_id", String, "Deployment ID for Azure OpenAI instances."),
			{Name: "llama2_format", Type: String, OneOf: []string{"raw", "openai", "ollama"},
				Description: "If using llama2 provider, select the upstream message format. Ignored for huggingface."},
			{Name: "mistral_format", Type: String, OneOf: []string{"openai", "ollama"},
				Description: "If using mistral provider, select the upstream message format. Ignored for huggingface."},
			{Name: "upstream_url", Type: String, Match: upstreamURLPattern,
				Description: "Manually specify or override the full URL to the AI operation endpoints, " +
					"when calling (self-)hosted models, or for running via a private endpoint " +
					"(an absolute http or https URL, e.g. a dedicated Inference Endpoint or a TGI/TEI server)."},
			{Name: "upstream_path", Type: String,
				Description: "Manually specify or override the AI operation path, used when e.g. using the " +
					"'preserve' route_type. Deprecated by Kong in favour of upstream_url."},
			ignored("embeddings_dimensions", Integer, "If using embeddings models, set the number of dimensions to generate."),
			{Name: "gemini", Type: Record, Description: "Gemini (Vertex) options. Ignored for huggingface.",
				Fields: []Field{
					ignored("api_endpoint", String, "If running Gemini on Vertex, specify the regional API endpoint (hostname only)."),
					ignored("project_id", String, "If running Gemini on Vertex, specify the project ID."),
					ignored("location_id", String, "If running Gemini on Vertex, specify the location ID."),
					ignored("endpoint_id", String, "If running Gemini on Vertex Model Garden, specify the endpoint ID."),
				}},
			{Name: "bedrock", Type: Record, Description: "AWS Bedrock options. Ignored for huggingface.",
				Fields: []Field{
					ignored("aws_region", String, "If using AWS providers (Bedrock) you can override the `AWS_REGION` "+
						"environment variable by setting this option."),
					ignored("aws_assume_role_arn", String, "If using AWS providers (Bedrock) you can assume a different "+
						"role after authentication with the current IAM context is successful."),
					ignored("aws_role_session_name", String, "If using AWS providers (Bedrock), set the identifier of "+
						"the assumed role session."),
					ignored("aws_sts_endpoint_url", String, "If using AWS providers (Bedrock), override the STS endpoint "+
						"URL when assuming a different role."),
					{Name: "embeddings_normalize", Type: Boolean, Default: false,
						Description: "If using AWS providers (Bedrock), set to true to normalize the embeddings. Ignored for huggingface."},
					ignored("performance_config_latency", String, "Force the client's performance configuration "+
						"'latency' for all requests."),
					ignored("video_output_s3_uri", String, "S3 URI (s3://bucket/prefix) where Bedrock will store "+
						"generated video files."),
				}},
			{Name: "cohere", Type: Record, Description: "Cohere options. Ignored for huggingface.",
				Fields: []Field{
					{Name: "embedding_input_type", Type: String, Default: "classification",
						OneOf:       []string{"search_document", "search_query", "classification", "clustering", "image"},
						Description: "The purpose of the input text to calculate embedding vectors. Ignored for huggingface."},
					ignored("wait_for_model", Boolean, "Wait for the model if it is not ready."),
				}},
			{Name: "dashscope", Type: Record, Description: "Alibaba DashScope options. Ignored for huggingface.",
				Fields: []Field{
					{Name: "international", Type: Boolean, Default: true,
						Description: "Use the international DashScope endpoint. Ignored for huggingface."},
				}},
			{Name: "huggingface", Type: Record, Description: "Hugging Face inference options.",
				Fields: []Field{
					{Name: "use_cache", Type: Boolean,
						Description: "Use the cache layer on the inference API"},
					{Name: "wait_for_model", Type: Boolean,
						Description: "Wait for the model if it is not ready"},
				}},
		},
	}
}

func loggingRecord() Field {
	return Field{
		Name: "logging", Type: Record, Required: true,
		Description: "What the plugin adds to Kong's log plugins' output.",
		Fields: []Field{
			{Name: "log_statistics", Type: Boolean, Required: true, Default: false,
				Description: "If enabled and supported by the driver, will add model usage and token " +
					"metrics into the Kong log plugin(s) output."},
			{Name: "log_payloads", Type: Boolean, Required: true, Default: false,
				Description: "If enabled, will log the request and response body into the Kong log plugin(s) output."},
		},
	}
}

func anyList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
