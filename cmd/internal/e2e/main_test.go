// Package e2e holds every test that needs a real Temporal server. They share
// one embedded server per test binary (started in TestMain on a random port,
// in-memory SQLite), so that only this one test binary links the server.
// Tests isolate themselves by unique environment, task and workflow names.
package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/once-run/once/cmd/internal/devserver"
	"github.com/once-run/once/cmd/internal/shared"
)

// srv is the embedded server shared by the tests of this binary.
var srv *devserver.Server

func TestMain(m *testing.M) {
	if mode := os.Getenv(childModeEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	var err error
	srv, err = devserver.Start(devserver.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start embedded server:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := srv.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: stop embedded server:", err)
	}
	os.Exit(code)
}

// newClient connects to the shared server and closes the client at the end
// of the test.
func newClient(tb testing.TB) client.Client {
	tb.Helper()
	return dial(tb, srv.Address(), srv.Namespace())
}

func dial(tb testing.TB, address, namespace string) client.Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: address, Namespace: namespace, Logger: shared.DiscardLogger()})
	require.NoError(tb, err)
	tb.Cleanup(c.Close)
	return c
}

var uniqueSeq atomic.Int64

// unique returns a name that no other test of this binary uses: a valid
// environment, task ID or task queue.
func unique(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", strings.ToLower(prefix), time.Now().UnixNano()%1_000_000, uniqueSeq.Add(1))
}

// testCtx is a context bounded by d and canceled at the end of the test.
func testCtx(tb testing.TB, d time.Duration) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// eventually polls cond every 50ms until it holds or d passes.
func eventually(tb testing.TB, d time.Duration, what string, cond func() (bool, error)) {
	tb.Helper()
	deadline := time.Now().Add(d)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok && err == nil {
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("%s: not true within %s (last error: %v)", what, d, lastErr)
}
