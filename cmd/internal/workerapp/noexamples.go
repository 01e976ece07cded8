//go:build nodev

package workerapp

// builtinExamples is nil: this binary was built with -tags nodev (the
// production image), without the example tasks. Dev mode registers none,
// and --examples (ONCE_EXAMPLES=true) is a usage error.
var builtinExamples *exampleSet
