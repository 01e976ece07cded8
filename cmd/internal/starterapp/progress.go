package starterapp

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/once-run/once/starter"
)

// progress shows a batch's progress on stderr when it is a terminal: a bar
// with the count, the rate and the time left, then one summary line. Off a
// terminal it prints nothing.
type progress struct {
	bar   *progressbar.ProgressBar // nil: off a terminal
	w     io.Writer
	total int
	start time.Time

	started, cached, failed int
}

func (r *runner) newProgress(total int) *progress {
	p := &progress{total: total}
	if total == 0 || !r.m.IsTerminal(r.stderr) {
		return p
	}
	p.w, p.start = r.stderr, time.Now()
	p.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(r.stderr),
		progressbar.OptionSetDescription("triggering"),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("runs"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionClearOnFinish(),
	)
	return p
}

// add counts a chunk's results.
func (p *progress) add(results []starter.BatchResult) {
	if p.bar == nil {
		return
	}
	for _, res := range results {
		switch {
		case res.Err != nil:
			p.failed++
		case res.Run != nil && res.Run.Cached:
			p.cached++
		default:
			p.started++
		}
	}
	_ = p.bar.Add(len(results))
}

// done clears the bar and prints the summary.
func (p *progress) done() {
	if p.bar == nil {
		return
	}
	_ = p.bar.Finish()
	n, elapsed := p.started+p.cached+p.failed, time.Since(p.start)
	fmt.Fprintf(p.w, "triggered %d/%d in %s (%.1f runs/s): %d started, %d cached, %d failed\n",
		n, p.total, elapsed.Round(time.Millisecond), float64(n)/max(elapsed.Seconds(), 1e-3), p.started, p.cached, p.failed)
}

// stop leaves the bar where it is, for an error message.
func (p *progress) stop() {
	if p.bar == nil {
		return
	}
	_ = p.bar.Exit()
	fmt.Fprintln(p.w)
}
