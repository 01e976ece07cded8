package once

import "time"

// Debounce makes a burst of triggers of one task with one debounce key a
// single run (trigger.dev's debounce option): the triggers of a burst join a
// debouncer that holds the burst's payload and starts the run.
//
//   - DebounceTrailing: the run starts once Delay has passed without another
//     trigger, with the last trigger's payload; never later than MaxDelay
//     after the burst's first trigger, when MaxDelay is set.
//   - DebounceLeading: the run starts at once with the first trigger's
//     payload; the triggers that follow within Delay of each other (and
//     within MaxDelay of the first, when set) join that run. A trigger after
//     the quiet period starts a new burst, and a new run.
//
// A burst keeps the Mode, Delay and MaxDelay of its first trigger.
type Debounce struct {
	// Key names the burst within the task and environment: triggers with
	// the same key join the same burst. Required.
	Key string
	// Delay is the quiet period that ends a burst. Required: positive.
	Delay time.Duration
	// MaxDelay bounds a burst from its first trigger: a trailing run starts
	// by then, a leading burst ends then. Optional: defaults to none;
	// otherwise at least Delay.
	MaxDelay time.Duration
	// Mode is DebounceLeading or DebounceTrailing. Optional: defaults to
	// DebounceLeading, as trigger.dev's.
	Mode DebounceMode
}

// DebounceMode says which trigger of a burst gives the run its payload, and
// when the run starts (see Debounce).
type DebounceMode string

// Debounce modes.
const (
	DebounceLeading  DebounceMode = "leading"
	DebounceTrailing DebounceMode = "trailing"
)

// ErrInvalidDebounce: a Debounce without a key, with a delay that is not
// positive, a MaxDelay below Delay, or an unknown mode.
var ErrInvalidDebounce = InputError("once: invalid debounce: want a key, a positive delay, a maxDelay of at least the delay (or none), and mode leading or trailing")

// OutcomeDebounced is the outcome (TagOutcome) of a debounced trigger: it
// joined a burst, whose debouncer starts the run.
const OutcomeDebounced = "debounced"

// The debouncer: the workflow type that holds a burst and the signal each
// trigger of the burst sends it. Neither name is a valid task ID (a colon),
// so no task can take them.
const (
	DebounceWorkflow = "once:debounce"
	DebounceSignal   = "once:trigger"
)
