package sse

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParser: feeding a stream split at arbitrary points gives the same
// events and the same end as feeding it whole, and the parser never panics.
// cuts holds the chunk sizes (each byte one size, 0 means 1).
func FuzzParser(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.sse")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b, []byte{7, 1, 200, 3})
		}
	}
	f.Add([]byte("data: a\r\n\r\ndata:b\r\rid: 1\nevent: x\ndata\n\n"), []byte{8, 1})
	f.Add([]byte("\xef\xbb\xbfdata: x\n\n:\n\ndata: {\"y"), []byte{1, 1, 1})
	f.Fuzz(func(t *testing.T, in, cuts []byte) {
		for _, max := range []int{0, 64} {
			whole := parse(max, in)
			var chunks [][]byte
			rest := in
			for i := 0; len(rest) > 0; i++ {
				n := 1
				if len(cuts) > 0 {
					n = max1(int(cuts[i%len(cuts)]))
				}
				if n > len(rest) {
					n = len(rest)
				}
				chunks = append(chunks, rest[:n])
				rest = rest[n:]
			}
			split := parse(max, chunks...)
			if !reflect.DeepEqual(whole, split) {
				t.Fatalf("max %d: whole %+v\nsplit %+v", max, whole, split)
			}
			for _, ev := range whole.Events {
				if max > 0 && len(ev.Data) > max {
					t.Fatalf("event of %d bytes passed a limit of %d", len(ev.Data), max)
				}
			}
		}
	})
}

func max1(n int) int {
	if n == 0 {
		return 1
	}
	return n
}
