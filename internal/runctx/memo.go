package runctx

import (
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
)

// DecodeMemo reads Once's entries (named in package once: once.MemoKeyText,
// …) from a run's memo with dc (nil for the SDK's default data converter):
// the reverse of idempotency.Memo.Fields. Entries that are missing or do not
// decode stay zero; other entries are ignored, among them the task and
// environment that runs of earlier versions carry (once.MemoTask,
// once.MemoEnvironment).
func DecodeMemo(memo *commonpb.Memo, dc converter.DataConverter) idempotency.Memo {
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	fields := memo.GetFields()
	get := func(k string, v any) bool {
		p, ok := fields[k]
		return ok && dc.FromPayload(p, v) == nil
	}
	var m idempotency.Memo
	get(once.MemoKeyText, &m.KeyText)
	var scope, exp string
	if get(once.MemoKeyScope, &scope) {
		m.Scope = idempotency.Scope(scope)
	}
	if get(once.MemoExpiresAt, &exp) {
		m.ExpiresAt, _ = time.Parse(time.RFC3339Nano, exp) // RFC 3339 with or without fraction
	}
	get(once.MemoPayloadHash, &m.PayloadHash)
	get(once.MemoReset, &m.Reset)
	get(once.MemoStartNonce, &m.StartNonce)
	var onFailure string
	if get(once.MemoOnFailure, &onFailure) {
		m.OnFailure, _ = once.ParseFailurePolicy(onFailure) // an unknown name: the default
	}
	return m
}
