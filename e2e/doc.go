// Package e2e holds the end-to-end tests: the real ai-proxy-hf binary,
// started and driven by the Kong stand-in (internal/kongsim) over the plugin
// socket, in front of the fake Hugging Face upstream (internal/hfsim), with
// real HTTP and real clients (the openai and @huggingface/inference npm
// packages, see e2e/clients). Nothing here imports the plugin's own packages:
// like Kong, the tests know the plugin only through its binary.
//
// With KONG_PROXY_URL, KONG_ADMIN_URL and HF_UPSTREAM_URL set, the same
// tests run against that Kong instead (external_test.go): each rig pushes
// its config with POST /config, and the tests that read the stand-in's
// own counters skip (needStandIn).
package e2e
