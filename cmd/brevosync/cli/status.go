package cli

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/syncer/operator"
)

// WriteStatus prints rep as tables for a human: `brevosync status`.
func WriteStatus(w io.Writer, rep *operator.Report) {
	now := rep.GeneratedAt
	if !rep.Schema.Migrated {
		fmt.Fprintf(w, "brevosync's schema is not (fully) installed. Missing:\n")
		var cols []string
		for _, m := range rep.Schema.Missing {
			if c, ok := strings.CutPrefix(m, "column contacts."); ok {
				cols = append(cols, c)
				continue
			}
			fmt.Fprintf(w, "  - %s\n", m)
		}
		if len(cols) > 0 {
			fmt.Fprintf(w, "  - contacts columns: %s\n", strings.Join(cols, ", "))
		}
		fmt.Fprintf(w, "To fix: %s.\n\n", rep.Schema.Hint)
		if slices.Contains(rep.Schema.Missing, "table contacts") {
			return
		}
	}

	fmt.Fprintf(w, "Contacts: %d\n\n", rep.Total)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "STATE\tSYNC/PROCESSING\tCOUNT\n")
	for _, s := range rep.States {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", s.Name, schema.RawPair(s.SyncStatus, s.ProcessingStatus), s.Count)
	}
	tw.Flush()

	fmt.Fprintln(w)
	if o := rep.OldestWaiting; o != nil {
		fmt.Fprintf(w, "Oldest waiting request: %s old (%s since %s)\n",
			FormatAge(time.Duration(o.AgeSeconds*float64(time.Second))), o.State, o.Since.Format(time.RFC3339))
	} else {
		fmt.Fprintf(w, "Oldest waiting request: none\n")
	}
	r := rep.Retries
	fmt.Fprintf(w, "Retries scheduled: %d", r.Scheduled)
	if r.Due != nil {
		fmt.Fprintf(w, ", due now: %d", *r.Due)
	}
	if r.NextAt != nil {
		fmt.Fprintf(w, ", next at %s (in %s)", r.NextAt.Format(time.RFC3339), FormatAge(r.NextAt.Sub(now)))
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w)
	if len(rep.Errors) == 0 {
		fmt.Fprintf(w, "Errors: none\n")
	} else {
		fmt.Fprintf(w, "Errors: %d contact%s with an error; top causes:\n", rep.ContactsWithError, Plural(int(rep.ContactsWithError), "", "s"))
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  COUNT\tSTATES\tCAUSE\n")
		for _, c := range rep.Errors {
			fmt.Fprintf(tw, "  %d\t%s\t%s\n", c.Count, FormatCounts(c.States), c.Cause)
			if c.Example != c.Cause {
				fmt.Fprintf(tw, "  \t\te.g. %s\n", c.Example)
			}
		}
		tw.Flush()
		if hasState(rep.Errors, "Failed") {
			fmt.Fprintf(w, "Fix the cause, then run 'brevosync retry --all' (or with contact ids) to send Failed contacts again.\n")
		}
	}

	fmt.Fprintln(w)
	wh := rep.Webhooks
	if wh.ConfirmedContacts == nil && wh.EventsLast24h == nil {
		fmt.Fprintf(w, "Webhooks: not set up (brevosync's columns and table are missing)\n")
	} else {
		fmt.Fprintf(w, "Webhooks: confirmed contacts %s, unsubscribed contacts %s", optCount(wh.ConfirmedContacts), optCount(wh.UnsubscribedContacts))
		if wh.EventsLast24h == nil {
			fmt.Fprintf(w, "; events: no brevosync_webhook_events table\n")
		} else {
			fmt.Fprintf(w, "; events in the last 24h: %s\n", cmp.Or(FormatCounts(wh.EventsLast24h), "none"))
		}
	}

	switch {
	case rep.Replicas == nil:
		fmt.Fprintf(w, "Replicas: unknown (no brevosync_nodes table)\n")
	case len(rep.Replicas) == 0:
		fmt.Fprintf(w, "Replicas: none live (no 'brevosync serve' heartbeat in the last 30s)\n")
	default:
		fmt.Fprintf(w, "Replicas: %d live\n", len(rep.Replicas))
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  HOSTNAME\tID\tUP\tLAST HEARTBEAT\n")
		for _, r := range rep.Replicas {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s ago\n", r.Hostname, r.ID, FormatAge(now.Sub(r.StartedAt)), FormatAge(now.Sub(r.HeartbeatAt)))
		}
		tw.Flush()
	}
}

func hasState(causes []operator.ErrorCause, name string) bool {
	for _, c := range causes {
		if c.States[name] > 0 {
			return true
		}
	}
	return false
}

func optCount(p *int64) string {
	if p == nil {
		return "unknown (column missing)"
	}
	return fmt.Sprint(*p)
}
