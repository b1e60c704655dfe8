// Command brevosync keeps Brevo in step with a Postgres contacts table.
//
// Run `brevosync help` for the commands, and see README.md.
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
	"sort"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise
// the module's build info is used.
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], &env{
		getenv: os.Getenv,
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
	}))
}

// env is the outside world a command sees; tests supply their own.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one `brevosync <name>`.
type command struct {
	name    string
	summary string
	usage   string // the arguments after the name, for the help line
	help    string // the long description; flags are appended
	flags   func(fs *flag.FlagSet)
	run     func(ctx context.Context, e *env, fs *flag.FlagSet) error
}

// commands is filled by the files that define each command.
var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// usageError is bad usage: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// run executes one command line and returns the exit status: 0 success,
// 1 runtime failure, 2 usage or configuration error.
func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 {
		printHelp(e.stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				newFlagSet(c, e.stdout).Usage()
				return 0
			}
		}
		printHelp(e.stdout)
		return 0
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(e.stderr, "brevosync: unknown command %q\n\n", name)
		printHelp(e.stderr)
		return 2
	}
	fs := newFlagSet(c, io.Discard)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(e.stdout)
			fs.Usage()
			return 0
		}
		fmt.Fprintf(e.stderr, "brevosync %s: %v\n", name, err)
		fs.SetOutput(e.stderr)
		fs.Usage()
		return 2
	}
	fs.SetOutput(e.stderr)
	err := c.run(ctx, e, fs)
	if err == nil {
		return 0
	}
	fmt.Fprintf(e.stderr, "brevosync %s: %v\n", name, err)
	var ue *usageError
	var ce *configError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "Run 'brevosync %s -h' for usage.\n", name)
		return 2
	case errors.As(err, &ce):
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
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, `
Run 'brevosync <command> -h' for a command's flags and details.
Configuration comes from the environment (DATABASE_URL, BREVO_API_KEY, ...): see README.md.
Exit status: 0 success, 1 runtime failure, 2 usage or configuration error.
`)
}

func init() {
	register(&command{
		name:    "version",
		summary: "print the build version",
		help:    "Prints the version of this build.",
		run: func(_ context.Context, e *env, fs *flag.FlagSet) error {
			if fs.NArg() > 0 {
				return usagef("version takes no arguments")
			}
			fmt.Fprintln(e.stdout, buildVersion())
			return nil
		},
	})
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
