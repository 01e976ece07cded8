package shared

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"go.temporal.io/sdk/temporal"
)

// Version describes this build for --version: the main module's version
// when the build knows one, else "(devel)"; the commit and whether the tree
// was modified, when the build recorded them (go build -buildvcs); the
// Temporal Go SDK's version and Go's.
func Version() string {
	v, rev, dirty := "(devel)", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		if dirty {
			rev += "+modified"
		}
		v += " (commit " + rev + ")"
	}
	return fmt.Sprintf("%s, Temporal Go SDK %s, %s", v, temporal.SDKVersion, runtime.Version())
}
