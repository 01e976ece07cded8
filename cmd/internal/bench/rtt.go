package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/once-run/once/starter"
)

// roundTrips measures with Config.RTT added to every RPC of both sides: a
// server that far away, as real clusters and Temporal Cloud are. There a
// sequential loop waits a round trip per start, and a batch keeps several
// in flight.
func (e *env) roundTrips(ctx context.Context, rep *Report) error {
	if e.rtt.c == nil {
		return nil
	}
	n, m, p := e.cfg.RTTItems, e.cfg.SequentialItems, starter.DefaultBatchParallelism
	rep.RTTMillis = float64(e.cfg.RTT) / float64(time.Millisecond)
	section := fmt.Sprintf("%s %v round trip on every RPC", sectionRTT, e.cfg.RTT)
	rounds, err := e.rotate(ctx, "rtt", e.cfg.RTTRounds,
		e.timed(n, p, e.rawNew(e.rtt)),  // raw parallel starts
		e.batch(e.rtt, n, 0),            // BatchTrigger, default parallelism
		e.timed(m, 1, e.onceNew(e.rtt)), // sequential Trigger loop
	)
	if err != nil {
		return err
	}
	vsRaw := make([]pair, len(rounds))
	vsLoop := make([]pairN, len(rounds))
	for r, t := range rounds {
		vsRaw[r] = pair{raw: t[0], once: t[1]}
		vsLoop[r] = pairN{base: t[2], baseN: m, once: t[1], onceN: n}
	}
	rep.add(section, rates(fmt.Sprintf("BatchTrigger %d items vs raw parallel starts (parallelism %d, the default)", n, p), "items/s", n, vsRaw, AtLeast(0.95)))
	rep.add(section, ratesN(fmt.Sprintf("BatchTrigger vs sequential Trigger loop (%d items)", m), "items/s", vsLoop, AtLeast(5)))

	// BatchTrigger's rate by parallelism, and raw starts at the same.
	var loop time.Duration
	for _, t := range rounds {
		loop += t[2]
	}
	loopRate := float64(m*len(rounds)) / loop.Seconds()
	k := e.cfg.CurveItems
	for i, par := range e.cfg.Parallelisms {
		raw, once := e.timed(k, par, e.rawNew(e.rtt)), e.batch(e.rtt, k, par)
		if i%2 == 1 {
			raw, once = once, raw
		}
		e.settle(ctx)
		d1, err := raw(ctx)
		if err != nil {
			return fmt.Errorf("bench: curve at %d: %w", par, err)
		}
		e.settle(ctx)
		d2, err := once(ctx)
		if err != nil {
			return fmt.Errorf("bench: curve at %d: %w", par, err)
		}
		if i%2 == 1 {
			d1, d2 = d2, d1
		}
		pt := CurvePoint{
			Parallelism: par,
			Once:        float64(k) / d2.Seconds(),
			Raw:         float64(k) / d1.Seconds(),
			Default:     par == starter.DefaultBatchParallelism,
		}
		pt.Ratio = pt.Once / pt.Raw
		pt.VsLoop = pt.Once / loopRate
		rep.Curve = append(rep.Curve, pt)
		fmt.Fprintf(e.cfg.Log, "curve parallelism %d: once %.0f/s, raw %.0f/s (%.1fx the loop)\n", par, pt.Once, pt.Raw, pt.VsLoop)
	}
	rep.LoopRate = loopRate
	return nil
}

// rotate runs each of fns once per round, starting each round with the next
// one (a, b, c; b, c, a; c, a, b; …), and returns the times by round and fn.
func (e *env) rotate(ctx context.Context, name string, rounds int, fns ...func(context.Context) (time.Duration, error)) ([][]time.Duration, error) {
	out := make([][]time.Duration, rounds)
	for r := range rounds {
		out[r] = make([]time.Duration, len(fns))
		for j := range fns {
			i := (r + j) % len(fns)
			e.settle(ctx)
			d, err := fns[i](ctx)
			if err != nil {
				return nil, fmt.Errorf("bench: %s round %d (%d): %w", name, r, i, err)
			}
			out[r][i] = d
		}
		fmt.Fprintf(e.cfg.Log, "%s round %d: %v\n", name, r, out[r])
	}
	return out, nil
}
