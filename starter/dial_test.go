package starter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/once-run/once/idempotency"
)

// TestDialRefusesWhatItCannotHonour: a client option Once cannot honour, or
// invalid Options, is an error that names it, before anything is dialed.
func TestDialRefusesWhatItCannotHonour(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Dial(ctx, client.Options{
		HostPort:        "127.0.0.1:1",
		ExternalStorage: converter.ExternalStorage{Drivers: []converter.StorageDriver{nil}},
	}, Options{})
	require.ErrorIs(t, err, ErrUnsupportedClientOption)
	require.Contains(t, err.Error(), "ExternalStorage")
	require.NotContains(t, err.Error(), "127.0.0.1:1", "refused before dialing")

	_, err = Dial(ctx, client.Options{HostPort: "127.0.0.1:1"}, Options{Environment: "Prod!"})
	require.ErrorIs(t, err, idempotency.ErrInvalidEnvironment, "refused before dialing: %v", err)
}

// TestNewLazyReadsTheClientSettings: the namespace and identity come from
// the client options, after the SDK's defaults.
func TestNewLazyReadsTheClientSettings(t *testing.T) {
	s, err := NewLazy(client.Options{HostPort: "127.0.0.1:1", Namespace: "payments", Identity: "svc-1"}, Options{Environment: "prod"})
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, "payments", s.Namespace())
	require.Equal(t, "svc-1", s.settings.identity)
	require.Equal(t, "prod", s.Environment())

	d, err := NewLazy(client.Options{HostPort: "127.0.0.1:1"}, Options{})
	require.NoError(t, err)
	defer d.Close()
	require.Equal(t, client.DefaultNamespace, d.Namespace())

	other, err := s.With(Options{Environment: "staging"})
	require.NoError(t, err)
	require.Equal(t, "payments", other.Namespace(), "With keeps the connection and its settings")
	require.Same(t, s.Temporal(), other.Temporal())
	require.Equal(t, "once-staging", other.TaskQueue())
	other.Close() // does not close s's client
	require.NotNil(t, s.Temporal())
}
