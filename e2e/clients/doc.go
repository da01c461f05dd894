// Package clients is an npm project whose scripts drive the official
// openai and @huggingface/inference clients for the end-to-end tests (see lib.mjs for their shared contract), and the
// tests that run those scripts against the fake Hugging Face upstream.
// package.json installs each client twice, the pinned version and the
// newest (npm aliases hf-latest and openai-latest); HF_PKG and OPENAI_PKG
// pick the one a script imports, and the tests run every call with both.
// Its Go code (versions.go) is those two sets, shared by the tests here and
// by the end-to-end tests in e2e/: Versions, Each, CheckImported.
package clients
