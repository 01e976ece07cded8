package shared

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

func TestFlags(t *testing.T) {
	env := map[string]string{"X_ADDR": "from-env"}
	parse := func(args ...string) (string, string, error) {
		fs := NewFlags("prog", "Usage of prog.\n", func(k string) string { return env[k] })
		addr := fs.String("addr", fs.EnvDefault("X_ADDR", "default"), "`ADDRESS`")
		level := fs.String("level", fs.EnvDefault("X_LEVEL", "info"), "`LEVEL`")
		var out bytes.Buffer
		err := fs.Parse(args, &out)
		return *addr + " " + *level, out.String(), err
	}

	got, out, err := parse()
	require.NoError(t, err)
	require.Equal(t, "from-env info", got, "the environment's default, else the given one")
	require.Empty(t, out)

	got, _, err = parse("--addr", "flag")
	require.NoError(t, err)
	require.Equal(t, "flag info", got)

	_, out, err = parse("--help")
	require.ErrorIs(t, err, pflag.ErrHelp)
	require.True(t, strings.HasPrefix(out, "Usage of prog.\n"), out)
	require.Less(t, strings.Index(out, "--addr"), strings.Index(out, "--level"), "flags in the order added")
	require.Less(t, strings.Index(out, "--level"), strings.Index(out, "--version"), "--version last")

	_, out, err = parse("--version")
	require.ErrorIs(t, err, pflag.ErrHelp)
	require.Equal(t, "prog version "+Version()+"\n", out)

	_, out, err = parse("--nope")
	require.ErrorContains(t, err, "unknown flag: --nope (see prog --help)")
	require.Empty(t, out, "nothing printed on an error")

	_, _, err = parse("extra")
	require.EqualError(t, err, `unexpected argument "extra"`)
}
