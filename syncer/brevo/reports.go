package brevo

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/syncer"
)

// What an import did not import (its reports), and the ids it does not
// return (the contact list).

// maxReport caps a report download; a report of 30,000 emails is about
// 1 MB.
const maxReport = 32 << 20

// reportAttempts are the tries of one report download before its rows are
// sent one by one instead.
var reportAttempts = []time.Duration{0, 250 * time.Millisecond, time.Second}

// reportCause is the error text of a row a report names, after
// "rejected by Brevo: ".
func reportCause(name string) string {
	switch name {
	case "invalid_emails":
		return "import report invalid_emails: invalid email address"
	case "duplicate_email_id":
		return "import report duplicate_email_id: the email address is on another row of the import"
	case "duplicate_phone_id":
		return "import report duplicate_phone_id: another Brevo contact has this phone number (SMS)"
	}
	return "import report " + name + ": an identifier of this contact is another contact's"
}

// mayBeIn reports whether a report could name the contact mapped as ct:
// only contacts sent with an SMS can be refused for a duplicate phone
// number; any contact may be in any other report.
func mayBeIn(name string, ct Contact) bool {
	if name == "duplicate_phone_id" {
		return ct.Attributes["SMS"] != nil
	}
	return true
}

// ImportRejections reads a completed import's reports. A contact a report
// names is Rejected with the report's cause; when a report cannot be read
// after a few tries, every contact it could name is Unknown: sent one by
// one rather than guessed.
func (b *CRM) ImportRejections(ctx context.Context, st syncer.ImportStatus, contacts []syncer.Contact) syncer.ImportReport {
	rep := syncer.ImportReport{Rejected: map[string]string{}, Unknown: map[string]bool{}}
	var unread []string
	for name, u := range st.Reports {
		emails, err := b.client.report(ctx, u)
		if err != nil {
			unread = append(unread, name)
			continue
		}
		for _, e := range emails {
			if _, dup := rep.Rejected[e]; !dup {
				rep.Rejected[e] = reportCause(name)
			}
		}
	}
	if len(unread) == 0 {
		return rep
	}
	e := b.encoder("")
	for _, c := range contacts {
		key := schema.NormalizeEmail(c.Email)
		if _, ok := rep.Rejected[key]; ok {
			continue
		}
		ct := ToContact(c, nil, e.types)
		for _, name := range unread {
			if mayBeIn(name, ct) {
				rep.Unknown[key] = true
			}
		}
	}
	return rep
}

// report downloads a report and returns the emails it lists, normalized.
// Report links are Brevo's signed URLs on another host: they are fetched
// without the API key.
func (c *Client) report(ctx context.Context, u string) ([]string, error) {
	parsed, err := url.Parse(u)
	if err != nil || (parsed.Scheme != "https" && parsed.Scheme != "http") {
		return nil, fmt.Errorf("import report: not an http(s) URL")
	}
	hc := &http.Client{Timeout: c.hc.Timeout, Transport: c.hc.Transport}
	var last error
	for _, wait := range reportAttempts {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		var emails []string
		if emails, last = fetchReport(ctx, hc, u); last == nil {
			return emails, nil
		}
	}
	return nil, last
}

func fetchReport(ctx context.Context, hc *http.Client, u string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("import report: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("import report: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("import report: answered %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReport+1))
	if err != nil || len(b) > maxReport {
		return nil, fmt.Errorf("import report: read: %v (%d bytes)", err, len(b))
	}
	return parseReport(b)
}

// parseReport reads a report CSV: a header line naming an EMAIL column
// (any case; the first column if none is named so), separated by commas
// or semicolons.
func parseReport(b []byte) ([]string, error) {
	b = bytes.TrimPrefix(b, []byte("\ufeff"))
	first, _, _ := bytes.Cut(b, []byte("\n"))
	r := csv.NewReader(bytes.NewReader(b))
	if bytes.Count(first, []byte(";")) > bytes.Count(first, []byte(",")) {
		r.Comma = ';'
	}
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("import report: %w", err)
	}
	if len(recs) == 0 {
		return nil, nil
	}
	col := 0
	for i, h := range recs[0] {
		if strings.EqualFold(strings.TrimSpace(h), "email") {
			col = i
			break
		}
	}
	var out []string
	for _, rec := range recs[1:] {
		if col < len(rec) {
			if e := schema.NormalizeEmail(rec[col]); e != "" {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// listPage is the GET /contacts page size: its maximum.
const listPage = 1000

// maxListBody caps a contact list answer (1,000 contacts with attributes).
const maxListBody = 16 << 20

// listTime is Brevo's date-time format in the contact list.
const listTime = "2006-01-02T15:04:05.000Z"

// ContactIDs lists one page of contacts modified since cursor.Since,
// oldest first: GET /contacts?modifiedSince=&sort=asc&limit=1000&offset=.
// The next cursor keeps Since and moves Offset: contacts modified meanwhile
// join the end of the list. modifiedSince is taken as inclusive, at
// Brevo's millisecond precision.
func (b *CRM) ContactIDs(ctx context.Context, cursor syncer.IDCursor) (syncer.IDPage, error) {
	contacts, err := b.client.ListModified(ctx, cursor.Since, cursor.Offset, listPage)
	if err != nil {
		return syncer.IDPage{}, crmError(err)
	}
	page := syncer.IDPage{IDs: make(map[string]string, len(contacts)), Last: len(contacts) < listPage,
		Next: syncer.IDCursor{Since: cursor.Since, Offset: cursor.Offset + len(contacts)}}
	for _, c := range contacts {
		if c.ID > 0 && c.Email != "" {
			page.IDs[schema.NormalizeEmail(c.Email)] = strconv.FormatInt(c.ID, 10)
		}
		t, err := time.Parse(time.RFC3339Nano, c.ModifiedAt)
		switch t = t.Truncate(time.Millisecond); {
		case err != nil:
		case t.After(page.LastModified):
			page.LastModified, page.AtLast = t, 1
		case t.Equal(page.LastModified):
			page.AtLast++
		}
	}
	return page, nil
}

// ListedContact is a contact of GET /contacts, as far as brevosync reads it.
type ListedContact struct {
	ID         int64  `json:"id"`
	Email      string `json:"email"`
	ModifiedAt string `json:"modifiedAt"`
}

// ListModified lists contacts modified since since, oldest first.
func (c *Client) ListModified(ctx context.Context, since time.Time, offset, limit int) ([]ListedContact, error) {
	const op = "list contacts"
	q := url.Values{}
	q.Set("limit", strconv.Itoa(limit))
	q.Set("offset", strconv.Itoa(offset))
	q.Set("sort", "asc")
	q.Set("modifiedSince", since.UTC().Format(listTime))
	resp, err := c.doRead(ctx, op, http.MethodGet, "/contacts?"+q.Encode(), nil, maxListBody)
	if err != nil {
		return nil, err
	}
	var out struct {
		Contacts []ListedContact `json:"contacts"`
	}
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return nil, fmt.Errorf("%s: decode response: %w", op, err)
	}
	return out.Contacts, nil
}
