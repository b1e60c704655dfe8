// Command brevosync keeps Brevo in step with a Postgres contacts table.
//
// Run `brevosync help` for the commands, and see README.md. Each command is
// flags, one call into a package, and printing; the work lives in the
// packages (service, syncer/operator, syncer/brevo, demo, bench).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"github.com/brevosync/brevosync/cmd/brevosync/cli"
	"github.com/brevosync/brevosync/cmd/brevosync/service"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise
// the module's build info is used.
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], &cli.Env{
		Getenv: os.Getenv,
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	}))
}

// command is one `brevosync <name>`.
type command struct {
	name    string
	summary string
	usage   string // the arguments after the name, for the help line
	help    string // the long description; flags are appended
	flags   func(fs *flag.FlagSet)
	run     func(ctx context.Context, e *cli.Env, fs *flag.FlagSet) error
}

// commands is the command table, in the order help lists it.
func commands() []*command {
	return []*command{
		attributesCommand, benchCommand, demoCommand, migrateCommand, retryCommand,
		selectCommand, serveCommand, statusCommand, versionCommand,
	}
}

// lookup finds a command by name.
func lookup(name string) *command {
	i := slices.IndexFunc(commands(), func(c *command) bool { return c.name == name })
	if i < 0 {
		return nil
	}
	return commands()[i]
}

// run executes one command line and returns the exit status: 0 success,
// 1 runtime failure, 2 usage or configuration error.
func run(ctx context.Context, args []string, e *cli.Env) int {
	if len(args) == 0 {
		printHelp(e.Stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c := lookup(args[1]); c != nil {
				newFlagSet(c, e.Stdout).Usage()
				return 0
			}
		}
		printHelp(e.Stdout)
		return 0
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(e.Stderr, "brevosync: unknown command %q\n\n", name)
		printHelp(e.Stderr)
		return 2
	}
	fs := newFlagSet(c, io.Discard)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(e.Stdout)
			fs.Usage()
			return 0
		}
		fmt.Fprintf(e.Stderr, "brevosync %s: %v\n", name, err)
		fs.SetOutput(e.Stderr)
		fs.Usage()
		return 2
	}
	fs.SetOutput(e.Stderr)
	err := c.run(ctx, e, fs)
	if err == nil {
		return 0
	}
	fmt.Fprintf(e.Stderr, "brevosync %s: %v\n", name, err)
	if _, ok := errors.AsType[*cli.UsageError](err); ok {
		fmt.Fprintf(e.Stderr, "Run 'brevosync %s -h' for usage.\n", name)
		return 2
	}
	if _, ok := errors.AsType[*service.ConfigError](err); ok {
		return 2
	}
	return 1
}

func newFlagSet(c *command, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(out)
	if c.flags != nil {
		c.flags(fs)
	}
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: brevosync %s %s\n\n%s\n", c.name, c.usage, strings.TrimSpace(c.help))
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintf(w, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

func printHelp(w io.Writer) {
	fmt.Fprint(w, `brevosync keeps Brevo in step with a Postgres contacts table, in near real time.

Usage: brevosync <command> [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run 'brevosync <command> -h' for a command's flags and details.
Configuration comes from the environment (DATABASE_URL, BREVO_API_KEY, ...): see README.md.
Exit status: 0 success, 1 runtime failure, 2 usage or configuration error.
`)
}

// noArgs fails when a command that takes none got arguments.
func noArgs(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return cli.Usagef("%s takes no arguments, got %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// loadConfig reads the settings of the commands that only need the
// database: DATABASE_URL and the log settings; nothing else is validated.
func loadConfig(e *cli.Env) (*service.Config, error) { return service.Load(e.Getenv, service.Database) }

var versionCommand = &command{
	name:    "version",
	summary: "print the build version",
	help:    "Prints the version of this build.",
	run: func(_ context.Context, e *cli.Env, fs *flag.FlagSet) error {
		if err := noArgs(fs); err != nil {
			return err
		}
		fmt.Fprintln(e.Stdout, buildVersion())
		return nil
	},
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
		if v != "" {
			return v
		}
	}
	return "(devel)"
}
