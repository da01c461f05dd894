#!/usr/bin/env bash
# `make e2e-kong-docker`: the end-to-end suite against a real Kong in Docker
# (kong/compose.e2e.yml): builds and starts Kong (KONG_IMAGE, default
# kong:3.9) and hfsim, waits for Kong's /status on the Admin API, runs
# `make e2e-kong` against them and tears the stack down. The logs (Kong's
# error.log, each test's file-log records, compose.log) stay in E2E_LOG_DIR.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
export KONG_IMAGE="${KONG_IMAGE:-kong:3.9}"
export E2E_LOG_DIR="${E2E_LOG_DIR:-${root}/.e2e-kong-logs}"
PROXY=127.0.0.1:8000
ADMIN=127.0.0.1:8001
HF=127.0.0.1:8090

command -v docker >/dev/null 2>&1 || { echo "e2e-kong-docker: docker is not installed" >&2; exit 1; }
rm -rf "${E2E_LOG_DIR}"
mkdir -p "${E2E_LOG_DIR}"
# Kong runs as the image's user "kong"; the suite reads as the caller.
chmod 0777 "${E2E_LOG_DIR}"

compose=(docker compose -f "${root}/kong/compose.e2e.yml")
down() {
	"${compose[@]}" logs --no-color >"${E2E_LOG_DIR}/compose.log" 2>&1 || true
	"${compose[@]}" down --volumes --remove-orphans >/dev/null 2>&1 || true
}
trap down EXIT

echo "e2e-kong-docker: Kong image ${KONG_IMAGE}, logs in ${E2E_LOG_DIR}"
"${compose[@]}" up -d --build

# wait_http URL NAME: until URL answers 200, at most 120 s.
wait_http() {
	local i
	for ((i = 0; i < 240; i++)); do
		if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
		sleep 0.5
	done
	echo "e2e-kong-docker: $2 did not answer $1 within 120 s" >&2
	"${compose[@]}" ps >&2 || true
	"${compose[@]}" logs --no-color --tail 100 >&2 || true
	return 1
}
wait_http "http://${HF}/_hfsim/requests" hfsim
wait_http "http://${ADMIN}/status" "Kong's Admin API"
curl -fsS "http://${ADMIN}/" | head -c 300; echo

KONG_PROXY_URL="http://${PROXY}" \
	KONG_ADMIN_URL="http://${ADMIN}" \
	HF_UPSTREAM_URL="http://${HF}" \
	KONG_FILE_LOG_DIR="${E2E_LOG_DIR}" \
	KONG_ERROR_LOG_PATH="${E2E_LOG_DIR}/error.log" \
	"${MAKE:-make}" -C "${root}" --no-print-directory e2e-kong
