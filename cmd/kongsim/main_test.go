package main

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type lineWriter struct {
	mu   sync.Mutex
	b    bytes.Buffer
	line chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if i := bytes.IndexByte(w.b.Bytes(), '\n'); i >= 0 {
		select {
		case w.line <- w.b.String()[:i]:
		default:
		}
	}
	return len(p), nil
}

func TestRunPrintsReadyLine(t *testing.T) {
	dir := t.TempDir()
	env := []string{
		"KONG_PREFIX=" + dir,
		"KONG_DATABASE=off",
		"KONG_PROXY_LISTEN=127.0.0.1:0",
		"KONG_ADMIN_LISTEN=127.0.0.1:0",
		"KONG_PROXY_ACCESS_LOG=off",
		"KONG_PROXY_ERROR_LOG=" + dir + "/logs/error.log",
	}
	out := &lineWriter{line: make(chan string, 1)}
	stop := make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- run(nil, env, out, io.Discard, stop) }()
	select {
	case line := <-out.line:
		assert.True(t, strings.HasPrefix(line, "kongsim ready proxy=127.0.0.1:"), line)
		assert.Contains(t, line, " admin=127.0.0.1:")
	case err := <-errc:
		t.Fatalf("run failed: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("no ready line")
	}
	close(stop)
	require.NoError(t, <-errc)
}

func TestRunRejectsBadFlags(t *testing.T) {
	var stderr bytes.Buffer
	err := run([]string{"-nope"}, nil, io.Discard, &stderr, nil)
	require.Error(t, err)
	err = run([]string{"extra"}, nil, io.Discard, &stderr, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unexpected arguments")
}
