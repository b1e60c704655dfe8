package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func init() {
	register(&command{
		name:    "status",
		summary: "show contacts per sync state, waiting requests, retries, errors and replicas",
		usage:   "[--json]",
		help: `Shows, for the contacts table in DATABASE_URL:

  - how many contacts are in each sync state, with the raw
    brevo_sync_status/brevo_processing_status pair of each: New, Waiting
    (Selected/Queued), Released (rate-limited wait, Queued/Queued),
    Processing, Retry scheduled (Queued/Error), Complete, Failed
    (Error/Error), Skipped, and any other combination as it is;
  - the age of the oldest waiting request: the oldest one not finished yet
    (Waiting, Released, Processing or Retry scheduled), from
    brevo_requested_at, or updated_at for requests older than brevosync;
  - retries: how many are scheduled, how many are due now, when the next is;
  - the contacts' current errors grouped by cause (top 10, with an example);
  - webhook confirmations and unsubscribes, and events of the last 24 hours;
  - the live replicas (serve processes with a heartbeat in the last 30s).

It works on the existing application's database before 'brevosync migrate'
has run: it shows what exists and names what is missing. It only reads, with
one pass over contacts. Needs only DATABASE_URL.

With --json it prints exactly one JSON object on stdout (see README.md for
its fields); anything else goes to stderr.

Examples:
  brevosync status
  brevosync status --json | jq '.states[] | select(.count > 0)'`,
		flags: func(fs *flag.FlagSet) {
			fs.Bool("json", false, "print one JSON object instead of tables")
		},
		run: runStatus,
	})
}

// flagValue is the value of a flag the command registered. Commands are
// registered once for the process, so flag values live in the FlagSet of
// each run, not in package variables.
func flagValue[T any](fs *flag.FlagSet, name string) T {
	return fs.Lookup(name).Value.(flag.Getter).Get().(T)
}

// connectDB loads the configuration, requires DATABASE_URL and opens a pool
// named appName. Errors are configErrors (exit 2) or say how to reach the
// database.
func connectDB(ctx context.Context, e *env, appName string) (*pgxpool.Pool, error) {
	cfg, err := loadConfig(e.getenv)
	if err != nil {
		return nil, err
	}
	if err := cfg.require("DATABASE_URL"); err != nil {
		return nil, err
	}
	return openPool(ctx, cfg.DatabaseURL, appName, nil)
}

func runStatus(ctx context.Context, e *env, fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return usagef("status takes no arguments, got %q", fs.Arg(0))
	}
	asJSON := flagValue[bool](fs, "json")
	pool, err := connectDB(ctx, e, "brevosync-status")
	if err != nil {
		return err
	}
	defer pool.Close()
	rep, err := collectStatus(ctx, pool)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	writeStatus(e.stdout, rep)
	return nil
}

// The service's own columns and tables, as `migrate` creates them.
var (
	serviceColumns = []string{
		"brevo_retry_count", "brevo_next_retry_at", "brevo_synced_at", "brevo_confirmed_at",
		"brevo_unsubscribed_at", "brevo_requested_at", "brevo_claim_token", "brevo_lease_until",
	}
	// appColumns are the application's columns status reads.
	appColumns = []string{"brevo_sync_status", "brevo_processing_status", "brevo_processing_error", "updated_at"}
)

// schemaInfo is what of brevosync's schema the database has.
type schemaInfo struct {
	now         time.Time // the database's clock
	hasContacts bool
	columns     map[string]bool // contacts' columns
	hasNodes    bool
	hasEvents   bool
	hasTrigger  bool
}

const inspectSchemaSQL = `
SELECT now(),
	to_regclass('contacts') IS NOT NULL,
	to_regclass('brevosync_nodes') IS NOT NULL,
	to_regclass('brevosync_webhook_events') IS NOT NULL,
	EXISTS (SELECT 1 FROM pg_trigger
	        WHERE tgrelid = to_regclass('contacts') AND tgname = 'brevosync_request_update'),
	coalesce((SELECT array_agg(attname::text) FROM pg_attribute
	          WHERE attrelid = to_regclass('contacts') AND attnum > 0 AND NOT attisdropped), '{}')`

// inspectSchema looks at the catalog only; it never fails for a missing
// object.
func inspectSchema(ctx context.Context, db *pgxpool.Pool) (schemaInfo, error) {
	var s schemaInfo
	var cols []string
	err := db.QueryRow(ctx, inspectSchemaSQL).Scan(&s.now, &s.hasContacts, &s.hasNodes, &s.hasEvents, &s.hasTrigger, &cols)
	if err != nil {
		return s, fmt.Errorf("inspect schema: %w", err)
	}
	s.columns = make(map[string]bool, len(cols))
	for _, c := range cols {
		s.columns[c] = true
	}
	return s, nil
}

// missing names what `migrate` would add, e.g. "column contacts.brevo_retry_count".
func (s schemaInfo) missing() []string {
	if !s.hasContacts {
		return []string{"table contacts"}
	}
	var out []string
	for _, c := range slices.Concat(appColumns, serviceColumns) {
		if !s.columns[c] {
			out = append(out, "column contacts."+c)
		}
	}
	if !s.hasTrigger {
		out = append(out, "trigger brevosync_request_update")
	}
	if !s.hasNodes {
		out = append(out, "table brevosync_nodes")
	}
	if !s.hasEvents {
		out = append(out, "table brevosync_webhook_events")
	}
	return out
}

// statusReport is `status --json`. Fields that cannot be known on a database
// missing part of brevosync's schema are null.
type statusReport struct {
	GeneratedAt time.Time    `json:"generated_at"`
	Schema      schemaStatus `json:"schema"`
	// Total is the number of contacts.
	Total int64 `json:"total"`
	// States: the named states first, in a fixed order and even when empty,
	// then any other (sync, processing) pair found, by count.
	States []stateCount `json:"states"`
	// OldestWaiting is the oldest request not finished yet; null when none.
	OldestWaiting *oldestWaiting `json:"oldest_waiting"`
	Retries       retryStatus    `json:"retries"`
	// ContactsWithError counts contacts with brevo_processing_error set;
	// Errors groups them by cause, largest first, at most 10.
	ContactsWithError int64        `json:"contacts_with_error"`
	Errors            []errorCause `json:"errors"`
	Webhooks          webhookStats `json:"webhooks"`
	// Replicas are the serve processes with a heartbeat in the last 30s;
	// null when the brevosync_nodes table does not exist.
	Replicas []replica `json:"replicas"`
}

type schemaStatus struct {
	// Migrated: everything `brevosync migrate` creates is present.
	Migrated bool `json:"migrated"`
	// Missing names what is absent, e.g. "column contacts.brevo_retry_count".
	Missing []string `json:"missing"`
	// Hint says what to do about it; empty when migrated.
	Hint string `json:"hint,omitempty"`
}

type stateCount struct {
	// Name is the human name ("Retry scheduled"), or "sync/processing" for
	// a combination with no name.
	Name string `json:"name"`
	// SyncStatus and ProcessingStatus are the raw column values; null
	// processing status is JSON null.
	SyncStatus       string  `json:"sync_status"`
	ProcessingStatus *string `json:"processing_status"`
	Count            int64   `json:"count"`
}

type oldestWaiting struct {
	// Since is brevo_requested_at, or updated_at where that is NULL.
	Since      time.Time `json:"since"`
	AgeSeconds float64   `json:"age_seconds"`
	// State is the oldest request's state name.
	State string `json:"state"`
}

type retryStatus struct {
	// Scheduled counts Retry scheduled (Queued/Error) contacts.
	Scheduled int64 `json:"scheduled"`
	// Due counts those whose brevo_next_retry_at has passed (or is NULL);
	// null when the column does not exist.
	Due *int64 `json:"due"`
	// NextAt is the earliest brevo_next_retry_at still in the future.
	NextAt *time.Time `json:"next_at"`
}

type errorCause struct {
	// Cause is the error text without attempt counts, ids and addresses.
	Cause   string `json:"cause"`
	Count   int64  `json:"count"`
	Example string `json:"example"`
	// States counts the contacts with this cause per state name.
	States map[string]int64 `json:"states"`
}

type webhookStats struct {
	// ConfirmedContacts and UnsubscribedContacts count contacts with
	// brevo_confirmed_at / brevo_unsubscribed_at set; null when the column
	// does not exist.
	ConfirmedContacts    *int64 `json:"confirmed_contacts"`
	UnsubscribedContacts *int64 `json:"unsubscribed_contacts"`
	// EventsLast24h counts events received in the last 24 hours by effect
	// (confirmed, unsubscribed, deleted, none, unknown_email); null when the
	// brevosync_webhook_events table does not exist.
	EventsLast24h map[string]int64 `json:"events_last_24h"`
}

type replica struct {
	ID          string    `json:"id"`
	Hostname    string    `json:"hostname"`
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
}

// namedStates are the states operators know, in display order. An empty
// proc stands for NULL.
var namedStates = []struct{ name, sync, proc string }{
	{"New", "New", ""},
	{"Waiting", "Selected", "Queued"},
	{"Released (rate-limited wait)", "Queued", "Queued"},
	{"Processing", "Processing", "Processing"},
	{"Retry scheduled", "Queued", "Error"},
	{"Complete", "Complete", "Complete"},
	{"Failed", "Error", "Error"},
	{"Skipped", "Skipped", ""},
}

// stateName names a (sync, processing) pair; proc nil is NULL.
func stateName(sync string, proc *string) string {
	p := ""
	if proc != nil {
		p = *proc
	}
	for _, s := range namedStates {
		if s.sync == sync && s.proc == p && (proc != nil) == (s.proc != "") {
			return s.name
		}
	}
	return rawPair(sync, proc)
}

func rawPair(sync string, proc *string) string {
	if proc == nil {
		return sync + "/NULL"
	}
	return sync + "/" + *proc
}

// isUnfinished reports whether a sync status is a request not finished yet.
func isUnfinished(sync string) bool {
	return sync == "Selected" || sync == "Queued" || sync == "Processing"
}

// causeSQL strips from an error text what differs between occurrences of
// the same cause: the syncer's prefixes with attempt counts, ids, IP
// addresses with ports, emails and long numbers.
func causeSQL(col string) string {
	e := col
	e = `regexp_replace(` + e + `, '^(attempt \d+ failed, retrying|gave up after \d+ attempts|rejected by Brevo): ', '')`
	e = `regexp_replace(` + e + `, '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}', '<id>', 'g')`
	e = `regexp_replace(` + e + `, '(\[[0-9a-fA-F:]+\]|\d{1,3}(\.\d{1,3}){3})(:\d+)?', '<addr>', 'g')`
	e = `regexp_replace(` + e + `, '[^\s"<>(),;:]+@[^\s"<>(),;:]+', '<email>', 'g')`
	e = `regexp_replace(` + e + `, '\d{4,}', 'N', 'g')`
	return e
}

// contactsStatusSQL builds the one pass over contacts, grouped by state and
// error cause, for the columns the database has. The inner query groups by
// the raw error text, so the regular expressions of causeSQL run once per
// distinct text rather than once per row.
func contactsStatusSQL(s schemaInfo) string {
	has := s.columns
	col := func(name, expr, otherwise string) string {
		if has[name] {
			return expr
		}
		return otherwise
	}
	since := "NULL::timestamptz"
	switch {
	case has["brevo_requested_at"] && has["updated_at"]:
		since = "coalesce(brevo_requested_at, updated_at::timestamptz)"
	case has["brevo_requested_at"]:
		since = "brevo_requested_at"
	case has["updated_at"]:
		since = "updated_at::timestamptz"
	}
	return `
SELECT sync, proc, ` + causeSQL("err") + `, sum(n)::bigint, min(err), min(since),
	sum(due)::bigint, min(next_retry), sum(confirmed)::bigint, sum(unsubscribed)::bigint
FROM (
	SELECT brevo_sync_status::text AS sync, brevo_processing_status::text AS proc,
		` + col("brevo_processing_error", "left(brevo_processing_error, 300)", "NULL::text") + ` AS err,
		count(*) AS n,
		min(` + since + `) AS since,
		` + col("brevo_next_retry_at", `count(*) FILTER (WHERE coalesce(brevo_next_retry_at, '-infinity') <= now())`, "NULL::bigint") + ` AS due,
		` + col("brevo_next_retry_at", `min(brevo_next_retry_at) FILTER (WHERE brevo_next_retry_at > now())`, "NULL::timestamptz") + ` AS next_retry,
		` + col("brevo_confirmed_at", `count(*) FILTER (WHERE brevo_confirmed_at IS NOT NULL)`, "NULL::bigint") + ` AS confirmed,
		` + col("brevo_unsubscribed_at", `count(*) FILTER (WHERE brevo_unsubscribed_at IS NOT NULL)`, "NULL::bigint") + ` AS unsubscribed
	FROM contacts
	GROUP BY 1, 2, 3
) AS g
GROUP BY 1, 2, 3`
}

// collectStatus reads the report. It fails only when the database does.
func collectStatus(ctx context.Context, db *pgxpool.Pool) (*statusReport, error) {
	s, err := inspectSchema(ctx, db)
	if err != nil {
		return nil, err
	}
	rep := &statusReport{GeneratedAt: s.now.UTC(), States: []stateCount{}, Errors: []errorCause{}}
	rep.Schema.Missing = s.missing()
	if rep.Schema.Missing == nil {
		rep.Schema.Missing = []string{}
	}
	rep.Schema.Migrated = len(rep.Schema.Missing) == 0
	switch {
	case !s.hasContacts:
		rep.Schema.Hint = "there is no contacts table: check that DATABASE_URL is the application's database, " +
			"or run 'brevosync migrate' to create one"
	case !s.columns["brevo_sync_status"] || !s.columns["brevo_processing_status"]:
		rep.Schema.Hint = "the contacts table has no brevo_sync_status/brevo_processing_status: " +
			"check that DATABASE_URL is the application's database"
	case !rep.Schema.Migrated:
		rep.Schema.Hint = "run 'brevosync migrate' to add brevosync's schema (it changes no existing data)"
	}

	if s.hasContacts && s.columns["brevo_sync_status"] && s.columns["brevo_processing_status"] {
		if err := collectContacts(ctx, db, s, rep); err != nil {
			return nil, err
		}
	} else {
		for _, n := range namedStates {
			rep.States = append(rep.States, stateCount{Name: n.name, SyncStatus: n.sync, ProcessingStatus: nullable(n.proc)})
		}
	}
	if s.hasEvents {
		if err := collectEvents(ctx, db, rep); err != nil {
			return nil, err
		}
	}
	if s.hasNodes {
		if err := collectReplicas(ctx, db, rep); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func collectContacts(ctx context.Context, db *pgxpool.Pool, s schemaInfo, rep *statusReport) error {
	rows, err := db.Query(ctx, contactsStatusSQL(s))
	if err != nil {
		return fmt.Errorf("count contacts: %w", err)
	}
	type pair struct{ sync, proc string }
	states := map[pair]*stateCount{}
	causes := map[string]*errorCause{}
	var (
		sync                     string
		proc, cause, example     *string
		n                        int64
		since, nextRetry         *time.Time
		due, confirmed, unsubbed *int64
	)
	if s.columns["brevo_confirmed_at"] {
		rep.Webhooks.ConfirmedContacts = new(int64)
	}
	if s.columns["brevo_unsubscribed_at"] {
		rep.Webhooks.UnsubscribedContacts = new(int64)
	}
	_, err = pgx.ForEachRow(rows, []any{&sync, &proc, &cause, &n, &example, &since, &due, &nextRetry, &confirmed, &unsubbed}, func() error {
		name := stateName(sync, proc)
		k := pair{sync, ""}
		if proc != nil {
			k.proc = *proc
		}
		sc := states[k]
		if sc == nil {
			sc = &stateCount{Name: name, SyncStatus: sync}
			if proc != nil { // pgx may reuse proc's target: copy
				p := *proc
				sc.ProcessingStatus = &p
			}
			states[k] = sc
		}
		sc.Count += n
		rep.Total += n

		if since != nil && isUnfinished(sync) &&
			(rep.OldestWaiting == nil || since.Before(rep.OldestWaiting.Since)) {
			rep.OldestWaiting = &oldestWaiting{Since: since.UTC(), State: name}
		}
		if name == "Retry scheduled" {
			rep.Retries.Scheduled += n
			if due != nil {
				rep.Retries.Due = addTo(rep.Retries.Due, *due)
			}
			if nextRetry != nil && (rep.Retries.NextAt == nil || nextRetry.Before(*rep.Retries.NextAt)) {
				t := nextRetry.UTC()
				rep.Retries.NextAt = &t
			}
		}
		if cause != nil {
			c := causes[*cause]
			if c == nil {
				c = &errorCause{Cause: *cause, States: map[string]int64{}}
				causes[*cause] = c
			}
			c.Count += n
			c.States[name] += n
			if example != nil && (c.Example == "" || *example < c.Example) {
				c.Example = *example
			}
			rep.ContactsWithError += n
		}
		if confirmed != nil {
			*rep.Webhooks.ConfirmedContacts += *confirmed
		}
		if unsubbed != nil {
			*rep.Webhooks.UnsubscribedContacts += *unsubbed
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("count contacts: %w", err)
	}
	if s.columns["brevo_next_retry_at"] && rep.Retries.Due == nil {
		rep.Retries.Due = new(int64)
	}
	if rep.OldestWaiting != nil {
		rep.OldestWaiting.AgeSeconds = max(0, s.now.Sub(rep.OldestWaiting.Since).Seconds())
	}

	for _, ns := range namedStates {
		k := pair{ns.sync, ns.proc}
		if sc := states[k]; sc != nil {
			rep.States = append(rep.States, *sc)
			delete(states, k)
			continue
		}
		rep.States = append(rep.States, stateCount{Name: ns.name, SyncStatus: ns.sync, ProcessingStatus: nullable(ns.proc)})
	}
	others := make([]stateCount, 0, len(states))
	for _, sc := range states {
		others = append(others, *sc)
	}
	slices.SortFunc(others, func(a, b stateCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Name, b.Name))
	})
	rep.States = append(rep.States, others...)

	for _, c := range causes {
		rep.Errors = append(rep.Errors, *c)
	}
	slices.SortFunc(rep.Errors, func(a, b errorCause) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Cause, b.Cause))
	})
	if len(rep.Errors) > 10 {
		rep.Errors = rep.Errors[:10]
	}
	return nil
}

func addTo(p *int64, n int64) *int64 {
	if p == nil {
		p = new(int64)
	}
	*p += n
	return p
}

func collectEvents(ctx context.Context, db *pgxpool.Pool, rep *statusReport) error {
	rows, err := db.Query(ctx, `
		SELECT effect, count(*) FROM brevosync_webhook_events
		WHERE received_at > now() - interval '24 hours'
		GROUP BY effect`)
	if err != nil {
		return fmt.Errorf("count webhook events: %w", err)
	}
	rep.Webhooks.EventsLast24h = map[string]int64{}
	var effect string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&effect, &n}, func() error {
		rep.Webhooks.EventsLast24h[effect] = n
		return nil
	})
	if err != nil {
		return fmt.Errorf("count webhook events: %w", err)
	}
	return nil
}

func collectReplicas(ctx context.Context, db *pgxpool.Pool, rep *statusReport) error {
	rows, err := db.Query(ctx, `
		SELECT id::text, hostname, started_at, heartbeat_at FROM brevosync_nodes
		WHERE heartbeat_at > now() - interval '30 seconds'
		ORDER BY started_at, id`)
	if err != nil {
		return fmt.Errorf("list replicas: %w", err)
	}
	rep.Replicas = []replica{}
	var r replica
	_, err = pgx.ForEachRow(rows, []any{&r.ID, &r.Hostname, &r.StartedAt, &r.HeartbeatAt}, func() error {
		r.StartedAt, r.HeartbeatAt = r.StartedAt.UTC(), r.HeartbeatAt.UTC()
		rep.Replicas = append(rep.Replicas, r)
		return nil
	})
	if err != nil {
		return fmt.Errorf("list replicas: %w", err)
	}
	return nil
}

// writeStatus prints rep as tables for a human.
func writeStatus(w io.Writer, rep *statusReport) {
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
		fmt.Fprintf(tw, "%s\t%s\t%d\n", s.Name, rawPair(s.SyncStatus, s.ProcessingStatus), s.Count)
	}
	tw.Flush()

	fmt.Fprintln(w)
	if o := rep.OldestWaiting; o != nil {
		fmt.Fprintf(w, "Oldest waiting request: %s old (%s since %s)\n",
			formatAge(time.Duration(o.AgeSeconds*float64(time.Second))), o.State, o.Since.Format(time.RFC3339))
	} else {
		fmt.Fprintf(w, "Oldest waiting request: none\n")
	}
	r := rep.Retries
	fmt.Fprintf(w, "Retries scheduled: %d", r.Scheduled)
	if r.Due != nil {
		fmt.Fprintf(w, ", due now: %d", *r.Due)
	}
	if r.NextAt != nil {
		fmt.Fprintf(w, ", next at %s (in %s)", r.NextAt.Format(time.RFC3339), formatAge(r.NextAt.Sub(now)))
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w)
	if len(rep.Errors) == 0 {
		fmt.Fprintf(w, "Errors: none\n")
	} else {
		fmt.Fprintf(w, "Errors: %d contact%s with an error; top causes:\n", rep.ContactsWithError, plural(int(rep.ContactsWithError), "", "s"))
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  COUNT\tSTATES\tCAUSE\n")
		for _, c := range rep.Errors {
			fmt.Fprintf(tw, "  %d\t%s\t%s\n", c.Count, formatCounts(c.States), c.Cause)
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
			fmt.Fprintf(w, "; events in the last 24h: %s\n", cmp.Or(formatCounts(wh.EventsLast24h), "none"))
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
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s ago\n", r.Hostname, r.ID, formatAge(now.Sub(r.StartedAt)), formatAge(now.Sub(r.HeartbeatAt)))
		}
		tw.Flush()
	}
}

func hasState(causes []errorCause, name string) bool {
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

// formatCounts renders {"a": 1, "b": 2} as "a 1, b 2", largest first.
func formatCounts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), strings.Compare(a, b)) })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// formatAge renders d to the second, at most two units: "45s", "3m12s",
// "2h5m", "3d4h".
func formatAge(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}
