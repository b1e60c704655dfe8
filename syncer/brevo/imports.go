package brevo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/syncer"
)

// Brevo's contact import as the syncer's Importer: POST /contacts/import
// with a jsonBody, GET /processes/{id}, the reports of rejected rows, and
// GET /contacts for the ids the import does not return.

// DefaultMaxImportBytes is the largest import body sent: Brevo takes up to
// 10 MB of jsonBody and recommends staying under about 8 MB.
const DefaultMaxImportBytes = 8_000_000

var _ syncer.Importer = (*CRM)(nil)

// SetMaxImportBytes changes the largest import body sent (tests use small
// ones to make many imports); n <= 0 restores DefaultMaxImportBytes. Call it
// before the syncer runs.
func (b *CRM) SetMaxImportBytes(n int) { b.maxImport = n }

// MaxImportBytes is the largest import body sent.
func (b *CRM) MaxImportBytes() int {
	if b.maxImport > 0 {
		return b.maxImport
	}
	return DefaultMaxImportBytes
}

// errNoLists: Brevo's import requires listIds (or a new list).
var errNoLists = errors.New("Brevo's contact import needs at least one list: set BREVO_LIST_ID")

// ImportReady reports whether imports can be used: they need lists.
func (b *CRM) ImportReady() error {
	if len(b.listIDs) == 0 {
		return errNoLists
	}
	return nil
}

// importBody is the exact POST /contacts/import body. It has no
// emailBlacklist or smsBlacklist field (an import must not blocklist, nor
// re-subscribe, anyone), and emptyContactsAttributes is always false: a
// NULL column leaves Brevo's value alone, as with an upsert. jsonBody comes
// first: encodeImport splices the rows in.
type importBody struct {
	JSONBody                []importRow `json:"jsonBody"`
	ListIDs                 []int64     `json:"listIds"`
	NotifyURL               string      `json:"notifyUrl,omitempty"`
	UpdateExistingContacts  bool        `json:"updateExistingContacts"`
	EmptyContactsAttributes bool        `json:"emptyContactsAttributes"`
	DisableNotification     bool        `json:"disableNotification"`
}

// importRow is one jsonBody entry.
type importRow struct {
	Email      string         `json:"email"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// encoder builds import bodies: the envelope with an empty jsonBody, split
// where the rows go.
type encoder struct {
	head, tail []byte // `{"jsonBody":[` and `],"listIds":…}`
	types      map[string]Attribute
	listIDs    []int64
}

func (b *CRM) encoder(notifyURL string) encoder {
	env, _ := json.Marshal(importBody{JSONBody: []importRow{}, ListIDs: b.listIDs, NotifyURL: notifyURL,
		UpdateExistingContacts: true, DisableNotification: true})
	const open = `{"jsonBody":[`
	e := encoder{head: []byte(open), tail: env[len(open):], listIDs: b.listIDs}
	if t := b.types.Load(); t != nil {
		e.types = *t
	}
	return e
}

// row encodes one contact as a jsonBody entry, mapped as an upsert is.
func (e encoder) row(c syncer.Contact) []byte {
	ct := ToContact(c, e.listIDs, e.types)
	out, _ := json.Marshal(importRow{Email: ct.Email, Attributes: ct.Attributes})
	return out
}

// FitImport reports how many of contacts, from the first, one import body
// with notifyURL carries within MaxImportBytes, and that body's size.
func (b *CRM) FitImport(contacts []syncer.Contact, notifyURL string) (n, size int) {
	e := b.encoder(notifyURL)
	size = len(e.head) + len(e.tail)
	for i, c := range contacts {
		add := len(e.row(c))
		if i > 0 {
			add++ // the comma
		}
		if size+add > b.MaxImportBytes() {
			return i, size
		}
		size += add
	}
	return len(contacts), size
}

// encodeImport is the body FitImport measured.
func (b *CRM) encodeImport(contacts []syncer.Contact, notifyURL string) []byte {
	e := b.encoder(notifyURL)
	var buf bytes.Buffer
	buf.Write(e.head)
	for i, c := range contacts {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(e.row(c))
	}
	buf.Write(e.tail)
	return buf.Bytes()
}

// StartImport sends contacts as one import: POST /contacts/import, answered
// 202 {"processId": N}. Failures are *syncer.Error, sorted by Classify.
func (b *CRM) StartImport(ctx context.Context, contacts []syncer.Contact, notifyURL string) (string, error) {
	body := b.encodeImport(contacts, notifyURL)
	if len(body) > b.MaxImportBytes() {
		return "", &syncer.Error{Kind: syncer.Rejected,
			Err: fmt.Errorf("import body of %d bytes exceeds %d", len(body), b.MaxImportBytes())}
	}
	id, err := b.client.ImportContacts(ctx, body)
	if err != nil {
		return "", crmError(err)
	}
	return strconv.FormatInt(id, 10), nil
}

// ImportContacts sends an encoded import body: POST /contacts/import. It
// returns Brevo's process id.
func (c *Client) ImportContacts(ctx context.Context, body []byte) (int64, error) {
	const op = "import contacts"
	resp, err := c.do(ctx, op, http.MethodPost, "/contacts/import", json.RawMessage(body))
	if err != nil {
		return 0, err
	}
	var out struct {
		ProcessID int64 `json:"processId"`
	}
	if err := json.Unmarshal(resp.body, &out); err != nil || out.ProcessID <= 0 {
		return 0, fmt.Errorf("%s: no processId in the %d answer: %q", op, resp.status, truncate(resp.body, 200))
	}
	return out.ProcessID, nil
}

// Process is GET /processes/{id}'s answer.
type Process struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
	// Reports are info.import's report URLs that are set, by name.
	Reports map[string]string `json:"-"`
}

// Process reads an import's process: GET /processes/{id}.
func (c *Client) Process(ctx context.Context, id string) (Process, error) {
	op := "read process " + id
	resp, err := c.do(ctx, op, http.MethodGet, "/processes/"+id, nil)
	if err != nil {
		return Process{}, err
	}
	var out struct {
		Process
		Info struct {
			Import map[string]json.RawMessage `json:"import"`
		} `json:"info"`
	}
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return Process{}, fmt.Errorf("%s: decode response: %w", op, err)
	}
	p := out.Process
	for name, raw := range out.Info.Import {
		var u string
		if json.Unmarshal(raw, &u) == nil && strings.TrimSpace(u) != "" {
			if p.Reports == nil {
				p.Reports = map[string]string{}
			}
			p.Reports[name] = strings.TrimSpace(u)
		}
	}
	return p, nil
}

// ImportStatus reads an import's process and sorts its status:
// completed; failed or cancelled; anything else (queued, in_process,
// processing) still running.
func (b *CRM) ImportStatus(ctx context.Context, process string) (syncer.ImportStatus, error) {
	p, err := b.client.Process(ctx, process)
	if err != nil {
		return syncer.ImportStatus{}, crmError(err)
	}
	st := syncer.ImportStatus{State: syncer.ImportRunning, Status: p.Status}
	switch strings.ToLower(p.Status) {
	case "completed":
		st.State, st.Reports = syncer.ImportCompleted, p.Reports
	case "failed", "cancelled", "canceled":
		st.State = syncer.ImportFailed
	}
	return st, nil
}

// CheckImport refuses an email that cannot be valid, before any request:
// Brevo would only reject it.
func (b *CRM) CheckImport(c syncer.Contact) error {
	if plausibleEmail(schema.NormalizeEmail(c.Email)) {
		return nil
	}
	return &syncer.Error{Kind: syncer.Rejected, Err: errors.New("invalid email address")}
}

// plausibleEmail reports whether e could be an email address Brevo
// accepts: one @, a local part and a domain with a dot inside it, no
// spaces or control characters, at most 254 bytes.
func plausibleEmail(e string) bool {
	local, domain, ok := strings.Cut(e, "@")
	switch {
	case !ok || local == "" || domain == "" || len(e) > 254 || strings.Contains(domain, "@"):
		return false
	case strings.IndexFunc(e, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return false
	case strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, ".."):
		return false
	}
	return strings.Contains(domain, ".")
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
