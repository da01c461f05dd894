package translate

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// updateEVGolden rewrites the embeddings and video golden files
// (go test ./plugin/translate/ -run 'Embed|Video' -update-ev). Review the
// diff before committing it: a golden file is only as right as its review.
var updateEVGolden = flag.Bool("update-ev", false, "rewrite testdata/{embeddings,video}/golden files")

// checkGolden compares got with testdata/<dir>/golden/<name>.
func checkGolden(t *testing.T, dir, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", dir, "golden", name)
	if *updateEVGolden {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file (run with -update-ev and review it)")
	require.Equal(t, string(want), string(got), "differs from %s", path)
}

// readTestdata reads testdata/<dir>/<sub>/<name>.
func readTestdata(t testing.TB, dir, sub, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", dir, sub, name))
	require.NoError(t, err)
	return b
}
