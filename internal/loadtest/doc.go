// Package loadtest measures what the ai-proxy-hf plugin adds to a request
// under load, and whether its plugin server leaks under a long run.
//
// It starts the real binaries on loopback (bin/hfsim as Hugging Face, two
// bin/kongsim stand-ins: one whose route is a plain proxy to hfsim's OpenAI
// chat endpoint, one with the same route and ai-proxy-hf), drives both with
// the same closed-loop load (a fixed number of workers, each sending its next
// request when the last answer has been read in full, over keep-alive
// connections), and reports latency percentiles and throughput side by side
// (Load, `make load`). Soak sends a bounded number of mixed buffered and
// streamed chats through the plugin while sampling the plugin server's RSS
// and goroutine count every second, and judges growth (`make soak`).
//
// The driver is a small closed loop on net/http rather than a load library:
// the question is "what does the plugin add at concurrency N", which is a
// closed-loop question (an open-loop, fixed-rate generator such as vegeta
// answers "what latency at R requests per second" and needs a rate chosen
// per side); and every request's answer is read to its end and checked, so
// a failed or truncated stream counts as an error, not as a fast request.
package loadtest
