package canonical_test

import (
	"fmt"

	"github.com/once-run/once/idempotency/internal/canonical"
)

func ExampleJSON() {
	out, _ := canonical.JSON([]byte(`{"b": [4.50, 1E30, -0], "a": "\u20ac\/"}`))
	fmt.Println(string(out))
	// Output:
	// {"a":"€/","b":[4.5,1e+30,0]}
}
