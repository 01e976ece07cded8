// Package e2e holds every test that needs a real Temporal server. They share
// one embedded server per test binary (started in TestMain on a random port,
// in-memory SQLite), so that only this one test binary links the server.
// Tests isolate themselves by unique environment, task and workflow names.
//
// With ONCE_TEST_ADDRESS set (and ONCE_TEST_NAMESPACE, default "default")
// the tests run against that server instead — a Temporal cluster such as the
// one scripts/cluster brings up. Tests that need the embedded server itself
// (its restart, its retention option, a server process of their own) skip
// there and say so.
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
	"github.com/once-run/once/starter"
)

// Environment variables that point the tests at an external server.
const (
	externalAddrEnv      = "ONCE_TEST_ADDRESS"
	externalNamespaceEnv = "ONCE_TEST_NAMESPACE"
)

// testServer is the server the tests of this binary share.
type testServer interface {
	Address() string
	Namespace() string
}

// external is a server the tests did not start.
type external struct{ address, namespace string }

func (e external) Address() string   { return e.address }
func (e external) Namespace() string { return e.namespace }

var (
	// srv is the server shared by the tests of this binary.
	srv testServer
	// embedded is srv when it is the embedded server; nil against an
	// external one.
	embedded *devserver.Server
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childModeEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	if addr := os.Getenv(externalAddrEnv); addr != "" {
		ns := os.Getenv(externalNamespaceEnv)
		if ns == "" {
			ns = "default"
		}
		srv = external{address: addr, namespace: ns}
		fmt.Fprintf(os.Stderr, "e2e: against the external server %s (namespace %s)\n", addr, ns)
		os.Exit(m.Run())
	}
	var err error
	embedded, err = devserver.Start(devserver.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start embedded server:", err)
		os.Exit(1)
	}
	srv = embedded
	code := m.Run()
	if err := embedded.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: stop embedded server:", err)
	}
	os.Exit(code)
}

// needsEmbedded skips a test that needs the embedded server itself when the
// tests run against an external server.
func needsEmbedded(tb testing.TB) {
	tb.Helper()
	if embedded == nil {
		tb.Skipf("needs the embedded server (a server of its own or its options); %s points at an external server", externalAddrEnv)
	}
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

// sharedClientOptions are the client options of the shared server.
func sharedClientOptions() client.Options {
	return client.Options{HostPort: srv.Address(), Namespace: srv.Namespace(), Logger: shared.DiscardLogger()}
}

// mustDialStarter dials a starter (starter.Dial) with copts and opts, and
// closes it at the end of the test.
func mustDialStarter(tb testing.TB, copts client.Options, opts starter.Options) *starter.Client {
	tb.Helper()
	if copts.Logger == nil {
		copts.Logger = shared.DiscardLogger()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := starter.Dial(ctx, copts, opts)
	require.NoError(tb, err)
	tb.Cleanup(s.Close)
	return s
}

// newStarter is a starter of opts on the shared server (mustDialStarter).
func newStarter(tb testing.TB, opts starter.Options) *starter.Client {
	tb.Helper()
	return mustDialStarter(tb, sharedClientOptions(), opts)
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
