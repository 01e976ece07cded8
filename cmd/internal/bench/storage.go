package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/once-run/once/cmd/internal/devserver"
)

// storage: new-key triggers on a file-backed embedded server (SQLite in WAL
// mode with synchronous=normal, what `go run ./cmd/worker` runs) against an
// in-memory one, both fresh and running side by side.
func (e *env) storage(ctx context.Context, rep *Report) error {
	if e.cfg.Address != "" || e.cfg.StorageStarts < 0 {
		return nil
	}
	dir, err := os.MkdirTemp("", "once-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	start := func(opts devserver.Options) (side, func(), error) {
		opts.Retention = 24 * time.Hour
		opts.DynamicConfig = e.cfg.DynamicConfig
		srv, err := devserver.Start(opts)
		if err != nil {
			return side{}, nil, err
		}
		s, err := e.dial(ctx, srv.Address(), srv.Namespace(), 0)
		if err != nil {
			_ = srv.Stop()
			return side{}, nil, err
		}
		return s, func() { s.close(); _ = srv.Stop() }, nil
	}
	mem, stopMem, err := start(devserver.Options{})
	if err != nil {
		return err
	}
	defer stopMem()
	file, stopFile, err := start(devserver.Options{DBFile: filepath.Join(dir, "bench.db")})
	if err != nil {
		return err
	}
	defer stopFile()
	n, p := e.cfg.StorageStarts, e.cfg.Concurrency
	for _, s := range []side{mem, file} { // warm up
		if _, err := e.measure(ctx, p*4, p, e.onceNew(s)); err != nil {
			return err
		}
	}
	rounds, err := e.alternate(ctx, "storage (raw: in-memory, once: file)", e.cfg.StorageRounds, e.timed(n, p, e.onceNew(mem)), e.timed(n, p, e.onceNew(file)))
	if err != nil {
		return err
	}
	c := rates(fmt.Sprintf("file-backed (WAL, synchronous=normal) vs in-memory SQLite: new-key Trigger (%d callers)", p), "starts/s", n, rounds, AtLeast(0.8))
	c.OnceLabel, c.BaselineLabel = "file", "memory"
	rep.add(sectionStorage, c)
	return nil
}
