package idempotency_test

import (
	"errors"
	"testing"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
)

// TestInputErrorsMatchTheUmbrella: every input error of the package is an
// once.ErrInvalidInput, still distinct from the others, also when wrapped.
func TestInputErrorsMatchTheUmbrella(t *testing.T) {
	all := []error{
		idempotency.ErrEmptyKey, idempotency.ErrKeyTooLong, idempotency.ErrInvalidKey,
		idempotency.ErrInvalidScope, idempotency.ErrInvalidTaskID, idempotency.ErrInvalidEnvironment,
		idempotency.ErrInvalidTTL, idempotency.ErrPayloadNotSerializable, idempotency.ErrInvalidJSON,
		idempotency.ErrGlobalScopeNeedsKey,
	}
	for i, err := range all {
		if !errors.Is(err, once.ErrInvalidInput) {
			t.Errorf("%v: not an once.ErrInvalidInput", err)
		}
		if errors.Is(errors.New("other"), err) {
			t.Errorf("%v: matches an unrelated error", err)
		}
		for j, other := range all {
			if i != j && errors.Is(err, other) {
				t.Errorf("%v matches %v", err, other)
			}
		}
	}
	_, err := idempotency.ParseTTL("-1s")
	if !errors.Is(err, once.ErrInvalidInput) || !errors.Is(err, idempotency.ErrInvalidTTL) {
		t.Errorf("ParseTTL(-1s) = %v: want ErrInvalidTTL and once.ErrInvalidInput", err)
	}
}
