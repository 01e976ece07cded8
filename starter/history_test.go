package starter

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// recordedMyTask is a history of the example my-task's attempt 2 recorded
// on a server, with its metadata.
func recordedMyTask(t *testing.T) string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "examples", "testdata", "replay", "my-task-*-2.json"))
	require.NoError(t, err)
	require.Len(t, paths, 1)
	return paths[0]
}

// TestHistoryFileRoundTrip: the metadata comes first and survives, and the
// file still reads as a plain history.
func TestHistoryFileRoundTrip(t *testing.T) {
	h, meta, err := ReadHistoryFile(recordedMyTask(t))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "x.json")
	require.NoError(t, WriteHistoryFile(path, meta, h))
	got, gotMeta, err := ReadHistoryFile(path)
	require.NoError(t, err)
	require.Equal(t, meta, gotMeta)
	require.Len(t, got.GetEvents(), len(h.GetEvents()))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Regexp(t, `^\{\n  "once": \{\n    "workflowId": `, string(b))

	orig, err := os.ReadFile(recordedMyTask(t))
	require.NoError(t, err)
	require.Equal(t, string(orig), string(b), "writing is stable: a re-recorded file gives a small diff")
}

func TestShortID(t *testing.T) {
	for _, tt := range []struct{ name, id, want string }{
		{"once", "dev/my-task/39ae5776989b1152a6a54759268b7f9d1f9205e72acd584fac975f2c1ba4dde0", "39ae5776989b"},
		{"uuid", "dev/my-task/0195f3a2-7c1e-7d3a", "0195f3a2-7c1"},
		{"other", "orders/42 now", "orders_42_now"},
	} {
		t.Run(tt.name, func(t *testing.T) { require.Equal(t, tt.want, shortID(tt.id)) })
	}
}
