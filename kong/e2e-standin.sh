#!/usr/bin/env bash
# `make e2e-kong-standin` (part of `make test`): the end-to-end suite in its
# external-Kong mode against the Kong stand-in and hfsim run as processes of
# their own (bin/kongsim, bin/hfsim), exactly as it runs against a real Kong
# (make e2e-kong-docker): configs pushed with POST /config, records read from
# file-log's files, the router's log read over HTTP.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${BIN_DIR:-${root}/bin}"
# The token the suite's router accepts (e2e/rig_test.go hfToken).
E2E_HF_TOKEN=hf_e2e_SECRET_token_0123456789

for b in ai-proxy-hf kongsim hfsim; do
	[[ -x "${bin}/${b}" ]] || { echo "e2e-standin: ${bin}/${b} is missing: run make build" >&2; exit 1; }
done

# A short /tmp path keeps the plugin socket under the 108-byte limit.
work="$(mktemp -d "${TMPDIR:-/tmp}/ai-proxy-hf-e2e-kong.XXXXXX")"
pids=()
cleanup() {
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do kill "${pid}" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "${work}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "${work}/logs" "${work}/prefix"

# ready_line FILE PID NAME PATTERN: waits (30 s) for the process's ready line.
ready_line() {
	local file="$1" pid="$2" name="$3" pattern="$4" i line
	for ((i = 0; i < 300; i++)); do
		line="$(grep -m1 "${pattern}" "${file}" 2>/dev/null || true)"
		if [[ -n "${line}" ]]; then echo "${line}"; return 0; fi
		kill -0 "${pid}" 2>/dev/null || { echo "e2e-standin: ${name} exited:" >&2; cat "${file}" >&2; return 1; }
		sleep 0.1
	done
	echo "e2e-standin: ${name} printed no ready line within 30 s" >&2
	return 1
}

"${bin}/hfsim" -listen 127.0.0.1:0 -token "${E2E_HF_TOKEN}" >"${work}/hfsim.out" 2>&1 &
pids+=("$!")
line="$(ready_line "${work}/hfsim.out" "${pids[-1]}" hfsim '^hfsim listening on ')"
hf_url="${line#hfsim listening on }"

# DB-less, no declarative config: every test pushes its own with POST /config.
# One worker, as kong/compose.e2e.yml runs Kong.
env \
	KONG_PREFIX="${work}/prefix" \
	KONG_DATABASE=off \
	KONG_PROXY_LISTEN=127.0.0.1:0 \
	KONG_ADMIN_LISTEN=127.0.0.1:0 \
	KONG_PROXY_ACCESS_LOG=off \
	KONG_PROXY_ERROR_LOG="${work}/logs/error.log" \
	KONG_LOG_LEVEL=info \
	KONG_NGINX_WORKER_PROCESSES=1 \
	KONG_PLUGINS=bundled,ai-proxy-hf \
	KONG_PLUGINSERVER_NAMES=ai-proxy-hf \
	KONG_PLUGINSERVER_AI_PROXY_HF_SOCKET="${work}/prefix/ai-proxy-hf.socket" \
	KONG_PLUGINSERVER_AI_PROXY_HF_START_CMD="${bin}/ai-proxy-hf -kong-prefix ${work}/prefix" \
	KONG_PLUGINSERVER_AI_PROXY_HF_QUERY_CMD="${bin}/ai-proxy-hf -dump" \
	AI_PROXY_HF_ROUTER_URL="${hf_url}" \
	"${bin}/kongsim" -plugin-timeout 20s -max-event-retries 3 >"${work}/kongsim.out" 2>&1 &
pids+=("$!")
line="$(ready_line "${work}/kongsim.out" "${pids[-1]}" kongsim '^kongsim ready ')"
proxy="$(sed -E 's/.* proxy=([^ ]+).*/\1/' <<<"${line}")"
admin="$(sed -E 's/.* admin=([^ ]+).*/\1/' <<<"${line}")"

echo "e2e-standin: kongsim proxy ${proxy}, admin ${admin}; hfsim ${hf_url}"
status=0
KONG_PROXY_URL="http://${proxy}" \
	KONG_ADMIN_URL="http://${admin}" \
	HF_UPSTREAM_URL="${hf_url}" \
	KONG_FILE_LOG_DIR="${work}/logs" \
	KONG_ERROR_LOG_PATH="${work}/logs/error.log" \
	"${MAKE:-make}" -C "${root}" --no-print-directory e2e-kong || status=$?
if [[ ${status} -ne 0 ]]; then
	echo "e2e-standin: the suite failed; kongsim's output:" >&2
	tail -n 50 "${work}/kongsim.out" >&2
fi
exit "${status}"
