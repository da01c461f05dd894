# syntax=docker/dockerfile:1
#
# hfsim, the fake Hugging Face upstream (cmd/hfsim), for the end-to-end suite
# against a real Kong (kong/compose.e2e.yml). Build from the repository root:
#   docker build -f kong/hfsim.Dockerfile -t ai-proxy-hf-hfsim .
# hfsim binds loopback only: the compose stack runs it on the host's network,
# where Kong and the suite reach it at 127.0.0.1.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/hfsim ./cmd/hfsim

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hfsim /hfsim
ENTRYPOINT ["/hfsim"]
CMD ["-listen", "127.0.0.1:8090"]
