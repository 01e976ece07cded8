package once

import "errors"

// ErrInvalidInput is the umbrella of every input error of Once's packages:
// errors.Is(err, ErrInvalidInput) holds for an empty or too long key, an
// invalid task ID, environment, scope or TTL, a payload that cannot be
// serialised or is too large, a negative duration, a missing key where one
// is required. Such an error is returned before anything is started: fix the
// input rather than retrying.
var ErrInvalidInput = errors.New("once: invalid input")

// InputError returns a sentinel error with message msg that also matches
// ErrInvalidInput. Packages declare their input errors with it:
//
//	var ErrEmptyKey = once.InputError("idempotency: key is empty")
func InputError(msg string) error { return &inputError{msg: msg} }

type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

// Is reports ErrInvalidInput as a match.
func (e *inputError) Is(target error) bool { return target == ErrInvalidInput }
