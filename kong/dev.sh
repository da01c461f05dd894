#!/usr/bin/env bash
# `make dev`: the plugin under the Kong stand-in (kongsim) against the fake
# Hugging Face upstream (hfsim), all on 127.0.0.1, no Docker. kongsim reads
# the same KONG_* settings as Kong (the ones docker-compose.yml sets), with
# paths under a temporary prefix. Ctrl-C stops everything.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
# BIN_DIR lets a test run the script on binaries it built elsewhere.
bin="${BIN_DIR:-${root}/bin}"

# The token hfsim demands; kong/kong.dev.yaml sends "Bearer <this>".
# kong/packaging_test.go checks the two agree.
DEV_TOKEN=hf_dev_token
HF_ADDR="${HF_ADDR:-127.0.0.1:8090}"
PROXY_ADDR="${PROXY_ADDR:-127.0.0.1:8000}"
ADMIN_ADDR="${ADMIN_ADDR:-127.0.0.1:8001}"

for b in ai-proxy-hf kongsim hfsim; do
	[[ -x "${bin}/${b}" ]] || { echo "dev: ${bin}/${b} is missing: run make build" >&2; exit 1; }
done

# go-pdk puts its socket at <prefix>/<binary>.socket; a short /tmp path keeps
# it under the 108-byte limit of Unix socket paths.
prefix="$(mktemp -d "${TMPDIR:-/tmp}/ai-proxy-hf-dev.XXXXXX")"
pids=()
cleanup() {
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do kill "${pid}" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "${prefix}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for HOST:PORT PID NAME: until the port accepts connections, failing
# if the process dies first or 15 s pass.
wait_for() {
	local host="${1%:*}" port="${1##*:}" pid="$2" name="$3" i
	for ((i = 0; i < 150; i++)); do
		if (exec 3<>"/dev/tcp/${host}/${port}") 2>/dev/null; then return 0; fi
		kill -0 "${pid}" 2>/dev/null || { echo "dev: ${name} exited" >&2; return 1; }
		sleep 0.1
	done
	echo "dev: ${name} did not listen on ${1} within 15 s" >&2
	return 1
}

"${bin}/hfsim" -listen "${HF_ADDR}" -token "${DEV_TOKEN}" &
pids+=("$!")
wait_for "${HF_ADDR}" "${pids[-1]}" hfsim

export KONG_PREFIX="${prefix}"
export KONG_DATABASE=off
export KONG_DECLARATIVE_CONFIG="${root}/kong/kong.dev.yaml"
export KONG_PROXY_LISTEN="${PROXY_ADDR}"
export KONG_ADMIN_LISTEN="${ADMIN_ADDR}"
export KONG_PLUGINS=bundled,ai-proxy-hf
export KONG_PLUGINSERVER_NAMES=ai-proxy-hf
export KONG_PLUGINSERVER_AI_PROXY_HF_SOCKET="${prefix}/ai-proxy-hf.socket"
export KONG_PLUGINSERVER_AI_PROXY_HF_START_CMD="${bin}/ai-proxy-hf -kong-prefix ${prefix}"
export KONG_PLUGINSERVER_AI_PROXY_HF_QUERY_CMD="${bin}/ai-proxy-hf -dump"
# The plugin server inherits this from kongsim: the router's base URL
# becomes hfsim's.
export AI_PROXY_HF_ROUTER_URL="http://${HF_ADDR}"

"${bin}/kongsim" &
pids+=("$!")
wait_for "${PROXY_ADDR}" "${pids[-1]}" kongsim

cat <<TXT

ai-proxy-hf is running under kongsim on http://${PROXY_ADDR} (Admin API http://${ADMIN_ADDR}),
with hfsim on http://${HF_ADDR} as Hugging Face. Routes: kong/kong.dev.yaml. Try:

  curl -s http://${PROXY_ADDR}/chat -H 'Content-Type: application/json' \\
    -d '{"messages":[{"role":"user","content":"What is 1 + 1?"}]}'

  curl -sN http://${PROXY_ADDR}/chat -H 'Content-Type: application/json' \\
    -d '{"messages":[{"role":"user","content":"Say OK"}],"stream":true}'

  curl -s http://${PROXY_ADDR}/embeddings -H 'Content-Type: application/json' \\
    -d '{"input":["first sentence","second sentence"]}'

  curl -s http://${PROXY_ADDR}/native/generate -H 'Content-Type: application/json' \\
    -d '{"inputs":"What is Deep Learning?","parameters":{"max_new_tokens":20}}'

  curl -s http://${ADMIN_ADDR}/plugins

Ctrl-C stops kongsim, the plugin server and hfsim.
TXT

# Whichever stops first (or Ctrl-C) ends the session; the trap stops the rest.
wait -n
