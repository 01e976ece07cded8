package shop_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeCodeIsThisPackage: every Go block of the README's "Testing your
// tasks" section is code of this package (shop.go and its tests, which
// compile and pass), line for line up to indentation: the README shows
// code that works.
func TestReadmeCodeIsThisPackage(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "\n## Testing your tasks\n")
	require.True(t, ok, "README has a section \"Testing your tasks\"")
	section, _, _ = strings.Cut(section, "\n## ")

	var code []string
	for _, name := range []string{"shop.go", "shop_test.go", "version_test.go"} {
		b, err := os.ReadFile(name)
		require.NoError(t, err)
		code = append(code, normalized(string(b))...)
	}
	blocks := 0
	for rest := section; ; {
		var block string
		var found bool
		if _, rest, found = strings.Cut(rest, "```go\n"); !found {
			break
		}
		block, rest, found = strings.Cut(rest, "```")
		require.True(t, found, "an unterminated Go block in the README")
		blocks++
		require.True(t, containsRun(code, normalized(block)), "README block %d is not in examples/shop:\n%s", blocks, block)
	}
	require.GreaterOrEqual(t, blocks, 3, "the task, its tests and the GetVersion change")
}

// normalized is the non-empty lines of text without their indentation.
func normalized(text string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// containsRun reports whether want appears in lines as a contiguous run.
func containsRun(lines, want []string) bool {
	for i := 0; i+len(want) <= len(lines); i++ {
		match := true
		for j := range want {
			if lines[i+j] != want[j] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}
