package idempotency

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidateEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		env     string
		wantErr bool
	}{
		{"dev", "dev", false},
		{"with hyphen", "eu-west-1", false},
		{"digit first", "1prod", false},
		{"single char", "p", false},
		{"32 chars", strings.Repeat("a", 32), false},
		{"empty", "", true},
		{"33 chars", strings.Repeat("a", 33), true},
		{"uppercase", "Dev", true},
		{"hyphen first", "-dev", true},
		{"underscore", "my_env", true},
		{"dot", "my.env", true},
		{"slash", "dev/x", true},
		{"space", "dev ", true},
		{"non-ascii", "dév", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateEnvironment(tt.env)
			if tt.wantErr {
				require.ErrorIs(t, err, ErrInvalidEnvironment)
				return
			}
			require.NoError(t, err)
		})
	}
}

func TestValidateTaskID(t *testing.T) {
	tests := []struct {
		name    string
		task    string
		wantErr bool
	}{
		{"kebab", "send-email", false},
		{"mixed case", "SendEmail", false},
		{"dots and underscores", "billing.v2_monthly", false},
		{"digit first", "3d-render", false},
		{"128 chars", strings.Repeat("T", 128), false},
		{"empty", "", true},
		{"129 chars", strings.Repeat("T", 129), true},
		{"hyphen first", "-task", true},
		{"dot first", ".task", true},
		{"underscore first", "_task", true},
		{"slash", "a/b", true},
		{"space", "my task", true},
		{"colon", "a:b", true},
		{"non-ascii", "tâche", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateTaskID(tt.task)
			if tt.wantErr {
				require.ErrorIs(t, err, ErrInvalidTaskID)
				return
			}
			require.NoError(t, err)
		})
	}
}

func TestWorkflowID(t *testing.T) {
	key := Key(strings.Repeat("0f", 32))
	tests := []struct {
		name    string
		env     string
		task    string
		key     Key
		want    string
		wantErr error
	}{
		{"simple", "dev", "my-task", key, "dev/my-task/" + string(key), nil},
		{"longest", strings.Repeat("e", 32), strings.Repeat("t", 128), key, strings.Repeat("e", 32) + "/" + strings.Repeat("t", 128) + "/" + string(key), nil},
		{"bad env", "Dev", "my-task", key, "", ErrInvalidEnvironment},
		{"bad task", "dev", "my/task", key, "", ErrInvalidTaskID},
		{"bad key", "dev", "my-task", Key("order-42"), "", ErrInvalidKey},
		{"empty key", "dev", "my-task", "", "", ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := WorkflowID(tt.env, tt.task, tt.key)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.LessOrEqual(t, len(got), MaxWorkflowIDBytes)

			env, task, rest, ok := ParseWorkflowID(got)
			require.True(t, ok)
			require.Equal(t, tt.env, env)
			require.Equal(t, tt.task, task)
			require.Equal(t, string(tt.key), rest)
		})
	}
	require.Equal(t, MaxEnvironmentBytes+MaxTaskIDBytes+KeyLen+2, MaxWorkflowIDBytes)
}

func TestParseWorkflowID(t *testing.T) {
	tests := []struct {
		name            string
		id              string
		env, task, rest string
		ok              bool
	}{
		{"keyed", "dev/my-task/abc", "dev", "my-task", "abc", true},
		{"rest keeps slashes", "prod/t/parent/child/3", "prod", "t", "parent/child/3", true},
		{"uuid rest", "staging/send.email/0195f3a2-7c1e-7d3a-9b1f-4c2d8e6a5b10", "staging", "send.email", "0195f3a2-7c1e-7d3a-9b1f-4c2d8e6a5b10", true},
		{"no slash", "default-test-workflow-id", "", "", "", false},
		{"one slash", "dev/my-task", "", "", "", false},
		{"empty rest", "dev/my-task/", "", "", "", false},
		{"bad env", "DEV/my-task/x", "", "", "", false},
		{"bad task", "dev/-task/x", "", "", "", false},
		{"empty", "", "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, task, rest, ok := ParseWorkflowID(tt.id)
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.env, env)
			require.Equal(t, tt.task, task)
			require.Equal(t, tt.rest, rest)
		})
	}
}
