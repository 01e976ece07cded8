package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/once-run/once/cmd/internal/devserver"
)

// The test binary doubles as a child process for tests that must kill a
// server or a worker with SIGKILL: with childModeEnv set, TestMain runs
// runChild instead of the tests. This avoids linking another binary.
const (
	childModeEnv = "ONCE_E2E_CHILD"  // "server", "worker" or "api"
	childDBEnv   = "ONCE_E2E_DB"     // server: SQLite file
	childAddrEnv = "ONCE_E2E_ADDR"   // server: gRPC address; worker: the server's
	readyPrefix  = "ONCE_E2E_READY " // first line a child prints once ready
)

func runChild(mode string) int {
	switch mode {
	case "server":
		s, err := devserver.Start(devserver.Options{Address: os.Getenv(childAddrEnv), DBFile: os.Getenv(childDBEnv)})
		if err != nil {
			fmt.Fprintln(os.Stderr, "child server:", err)
			return 1
		}
		readyUntilSignal(s.Address())
		if err := s.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "child server: stop:", err)
			return 1
		}
		return 0
	case "worker":
		return runWorkerChild()
	case childAPIMode:
		return runAPIChild()
	default:
		fmt.Fprintf(os.Stderr, "unknown child mode %q\n", mode)
		return 2
	}
}

// readyUntilSignal prints the ready line of a child with what (the server's
// address, the worker's task queue) and returns when the child gets SIGINT
// or SIGTERM.
func readyUntilSignal(what string) {
	fmt.Println(readyPrefix + what)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}

// child is a running child process of this test binary.
type child struct {
	cmd  *exec.Cmd
	addr string // what the child printed after readyPrefix
	done chan struct{}
}

// startChild runs this test binary in child mode with env and waits (at most
// timeout) for its ready line. The child is killed at the end of the test.
func startChild(tb testing.TB, timeout time.Duration, env ...string) *child {
	tb.Helper()
	exe, err := os.Executable()
	require.NoError(tb, err)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(tb, err)
	require.NoError(tb, cmd.Start())
	c := &child{cmd: cmd, done: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, readyPrefix) {
				ready <- strings.TrimPrefix(line, readyPrefix)
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
		close(c.done)
	}()
	tb.Cleanup(func() { c.kill(tb) })
	select {
	case c.addr = <-ready:
		return c
	case <-c.done:
		tb.Fatalf("child %v exited before it was ready", env)
	case <-time.After(timeout):
		tb.Fatalf("child %v not ready within %s", env, timeout)
	}
	return nil
}

// kill sends SIGKILL and waits (bounded) for the process to go.
func (c *child) kill(tb testing.TB) {
	tb.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		tb.Errorf("child did not exit within 30s of SIGKILL")
	}
}

// stop sends SIGTERM and waits (bounded) for a clean exit.
func (c *child) stop(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	select {
	case <-c.done:
	case <-ctx.Done():
		tb.Fatalf("child did not stop within %s of SIGTERM", timeout)
	}
}
