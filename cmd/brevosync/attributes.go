package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"

	"github.com/brevosync/brevosync/cmd/brevosync/cli"
	"github.com/brevosync/brevosync/cmd/brevosync/service"
	"github.com/brevosync/brevosync/syncer/brevo"
)

// attributesHelp lists the mapping from brevo.MappedAttributes.
func attributesHelp() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, a := range brevo.MappedAttributes {
		fmt.Fprintf(tw, "  %s\t%s\tfrom %s\n", a.Name, a.Type, a.Column)
	}
	tw.Flush()
	return `Lists the contact attributes defined in the Brevo account (name, category,
type) and whether brevosync's mapping uses them. Brevo silently drops
attributes it does not know, so every attribute the mapping sends must exist
(FIRSTNAME, LASTNAME and SMS exist in a new account):

` + b.String() + `
'brevosync attributes ensure' creates the missing ones (category "normal").
It does not change attributes that exist with another type: fix those in
Brevo (Contacts > Settings > Contact attributes).

Needs BREVO_API_KEY (and BREVO_API_BASE_URL for another endpoint); no
database.

Examples:
  brevosync attributes
  brevosync attributes ensure --dry-run
  brevosync attributes ensure`
}

var attributesCommand = &command{
	name:    "attributes",
	summary: "list Brevo's contact attributes; 'attributes ensure' creates the mapped ones",
	usage:   "[ensure [--dry-run]]",
	help:    attributesHelp(),
	flags: func(fs *flag.FlagSet) {
		fs.Bool("dry-run", false, "with ensure: only say what would be created")
	},
	run: runAttributes,
}

func runAttributes(ctx context.Context, e *cli.Env, fs *flag.FlagSet) error {
	dry := cli.FlagValue[bool](fs, "dry-run")
	ensure := false
	switch args := fs.Args(); {
	case len(args) == 0:
		if dry {
			return cli.Usagef("--dry-run goes with 'attributes ensure'")
		}
	case args[0] == "ensure":
		ensure = true
		// Flags may follow the subcommand: attributes ensure --dry-run.
		sub := flag.NewFlagSet("attributes ensure", flag.ContinueOnError)
		sub.SetOutput(io.Discard) // errors are returned as usage errors
		sub.BoolVar(&dry, "dry-run", dry, "only say what would be created")
		sub.Usage = func() {
			w := sub.Output()
			fmt.Fprintf(w, "Usage: brevosync attributes ensure [--dry-run]\n\n"+
				"Creates, in Brevo, the contact attributes brevosync's mapping sends and\n"+
				"Brevo lacks (see 'brevosync attributes -h').\n\nFlags:\n")
			sub.PrintDefaults()
		}
		if err := sub.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				sub.SetOutput(e.Stdout)
				sub.Usage()
				return nil
			}
			return cli.Usagef("%v", err)
		}
		if sub.NArg() > 0 {
			return cli.Usagef("attributes ensure takes no arguments, got %q", sub.Arg(0))
		}
	default:
		return cli.Usagef("unknown subcommand %q: the only one is 'ensure'", args[0])
	}

	cfg, err := service.Load(e.Getenv, service.Brevo)
	if err != nil {
		return err
	}
	if err := cfg.Require("BREVO_API_KEY"); err != nil {
		return err
	}
	client := brevo.NewClient(brevo.Config{BaseURL: cfg.APIBaseURL, APIKey: cfg.APIKey, Timeout: cfg.RequestTimeout})
	attrs, err := client.Attributes(ctx)
	if err != nil {
		return brevoHint(err, cfg.APIBaseURL)
	}
	if !ensure {
		listAttributes(e.Stdout, attrs)
		return nil
	}
	return ensureAttributes(ctx, e.Stdout, e.Stderr, client, attrs, dry, cfg.APIBaseURL)
}

func listAttributes(w io.Writer, attrs []brevo.Attribute) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME\tCATEGORY\tTYPE\tBREVOSYNC\n")
	var mismatched int
	for _, a := range attrs {
		use := "-"
		if brevo.MappedType(a.Name) != "" {
			use = "used"
			if m := brevo.Mismatch(a); m != "" {
				use = "used, but " + m
				mismatched++
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Name, a.Category, orDash(a.Type), use)
	}
	missing := brevo.Missing(attrs)
	for _, name := range missing {
		fmt.Fprintf(tw, "%s\t-\t%s\tMISSING: Brevo drops it\n", name, brevo.MappedType(name))
	}
	tw.Flush()
	fmt.Fprintln(w)
	switch {
	case len(missing) > 0:
		fmt.Fprintf(w, "%d mapped attribute(s) missing in Brevo: run 'brevosync attributes ensure' to create them.\n", len(missing))
	case mismatched == 0:
		fmt.Fprintf(w, "All %d mapped attributes exist in Brevo.\n", len(brevo.MappedAttributes))
	}
	if mismatched > 0 {
		fmt.Fprintf(w, "%d mapped attribute(s) have another type in Brevo: change them in Brevo "+
			"(Contacts > Settings > Contact attributes).\n", mismatched)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ensureAttributes(ctx context.Context, w, stderr io.Writer, client *brevo.Client, attrs []brevo.Attribute, dry bool, baseURL string) error {
	for _, a := range attrs {
		if m := brevo.Mismatch(a); m != "" {
			fmt.Fprintf(stderr, "cannot fix: %s %s. ensure does not change an existing attribute: to change it, "+
				"delete it in Brevo (Contacts > Settings > Contact attributes) and run ensure again\n", a.Name, m)
		}
	}
	missing := brevo.Missing(attrs)
	if len(missing) == 0 {
		fmt.Fprintf(w, "all %d mapped attributes exist in Brevo: nothing to create\n", len(brevo.MappedAttributes))
		return nil
	}
	var failed []string
	var firstErr error
	for _, name := range missing {
		typ := brevo.MappedType(name)
		if dry {
			fmt.Fprintf(w, "would create %s (%s)\n", name, typ)
			continue
		}
		err := client.CreateAttribute(ctx, name, typ)
		var ae *brevo.APIError
		switch {
		case err == nil:
			fmt.Fprintf(w, "created %s (%s)\n", name, typ)
		case errors.As(err, &ae) && ae.StatusCode == http.StatusBadRequest && ae.Code == "duplicate_parameter":
			fmt.Fprintf(w, "%s exists already (created meanwhile)\n", name)
		default:
			fmt.Fprintf(w, "could not create %s (%s): %v\n", name, typ, err)
			failed = append(failed, name)
			if firstErr == nil {
				firstErr = err
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if dry {
		fmt.Fprintf(w, "dry run: nothing created\n")
	}
	if len(failed) > 0 {
		return fmt.Errorf("could not create %v: %w", failed, brevoHint(firstErr, baseURL))
	}
	return nil
}

// brevoHint adds to a Brevo error what to check.
func brevoHint(err error, baseURL string) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	var ae *brevo.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("%w (could not reach Brevo at %s: check BREVO_API_BASE_URL and the network)", err, baseURL)
	}
	switch s := ae.StatusCode; {
	case s == http.StatusUnauthorized:
		return fmt.Errorf("%w (Brevo rejected the API key: check BREVO_API_KEY)", err)
	case s == http.StatusPaymentRequired:
		return fmt.Errorf("%w (Brevo refuses for the account's plan or credits: check the account in Brevo)", err)
	case s == http.StatusForbidden:
		return fmt.Errorf("%w (the API key may not do this, or this machine's IP is not authorised: "+
			"check BREVO_API_KEY's permissions and Brevo's authorised IPs)", err)
	case s == http.StatusNotFound:
		return fmt.Errorf("%w (check BREVO_API_BASE_URL: it should end in /v3, now %s)", err, baseURL)
	case s == http.StatusTooManyRequests:
		return fmt.Errorf("%w (rate limited: try again in %s)", err, ae.RateLimitReset)
	case s >= 500:
		return fmt.Errorf("%w (Brevo is having trouble: try again later)", err)
	}
	return err
}
