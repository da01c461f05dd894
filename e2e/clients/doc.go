// Package clients holds no Go code: the directory is an npm project whose
// scripts drive the official openai and @huggingface/inference clients for
// the end-to-end tests (see lib.mjs for their shared contract), and the
// tests that run those scripts against the fake Hugging Face upstream.
package clients
