package shared

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
)

// Flags is a long-running program's flag set (the worker's, the API's):
// errors returned and nothing printed until Parse prints the help, flags
// listed in the order they are added, defaults read from the environment
// (EnvDefault), and --version.
type Flags struct {
	*pflag.FlagSet
	name, usage string
	getenv      func(string) string
}

// NewFlags is the flag set of the program name, whose --help starts with
// usage; getenv reads the environment for EnvDefault.
func NewFlags(name, usage string, getenv func(string) string) *Flags {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.SetOutput(io.Discard) // errors are returned; Parse prints the help
	fs.Usage = func() {}
	return &Flags{FlagSet: fs, name: name, usage: usage, getenv: getenv}
}

// EnvDefault is the environment variable name when it is set and not
// empty, else def: a flag's default.
func (f *Flags) EnvDefault(name, def string) string {
	if v := f.getenv(name); v != "" {
		return v
	}
	return def
}

// Parse adds --version after the program's flags and parses args. --help
// writes the usage and the flags to stdout, --version "<name> version
// <version>"; both return pflag.ErrHelp.
//
// Errors: a flag's, with "(see <name> --help)"; an argument left over.
func (f *Flags) Parse(args []string, stdout io.Writer) error {
	version := f.Bool("version", false, "print the version and exit")
	if err := f.FlagSet.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(stdout, f.usage)
			f.SetOutput(stdout)
			f.PrintDefaults()
			return pflag.ErrHelp
		}
		return fmt.Errorf("%w (see %s --help)", err, f.name)
	}
	if *version {
		fmt.Fprintln(stdout, f.name, "version", Version())
		return pflag.ErrHelp
	}
	if f.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", f.Arg(0))
	}
	return nil
}

// App is a long-running program: its flags, a start, a stop.
type App interface {
	ParseFlags(args []string) error
	Run(ctx context.Context) error
	Close() error
}

// Main runs app as the program name: it parses the command line (exit 0
// after --help or --version, 2 for bad flags), runs app until SIGINT or
// SIGTERM, says stopping, and closes it (exit 1 when Run or Close fails).
func Main(name, stopping string, app App) {
	if err := app.ParseFlags(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		_ = app.Close()
		os.Exit(1)
	}
	fmt.Println("Press Ctrl+C to stop.")
	<-ctx.Done()
	fmt.Println(stopping)
	if err := app.Close(); err != nil {
		fmt.Fprintln(os.Stderr, name+": stop:", err)
		os.Exit(1)
	}
	fmt.Println("Stopped.")
}
