//go:build !nodev

package workerapp

import (
	"github.com/once-run/once/examples"
	"github.com/once-run/once/worker"
)

// builtinExamples are the example tasks (package examples) and their
// activities, registered in dev mode or with --examples. Built with -tags
// nodev (the production image), the worker has none: see noexamples.go.
var builtinExamples = &exampleSet{
	tasks: examples.Tasks,
	register: func(w *worker.Worker) {
		w.RegisterActivity(&examples.Activities{Starter: w.Starter()})
	},
}
