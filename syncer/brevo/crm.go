package brevo

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/brevosync/brevosync/syncer"
)

// CRM is Brevo as the syncer's destination: it implements [syncer.CRM] with
// a [Client] and the attribute mapping ([ToContact]).
type CRM struct {
	client  *Client
	pacer   syncer.Pacer // nil: extra requests are not paced
	listIDs []int64
	types   atomic.Pointer[map[string]Attribute] // the account's attributes, once loaded
	// maxImport is the largest import body (imports.go); 0: the default.
	maxImport int
}

var (
	_ syncer.CRM    = (*CRM)(nil)
	_ syncer.Paced  = (*CRM)(nil)
	_ syncer.Mirror = (*CRM)(nil)
)

// SetPacer makes the CRM's extra requests (beyond the one the syncer pays
// for) share the syncer's budget.
func (b *CRM) SetPacer(p syncer.Pacer) { b.pacer = p }

// pace waits for the budget before an extra request.
func (b *CRM) pace(ctx context.Context) error {
	if b.pacer == nil {
		return nil
	}
	return b.pacer.Wait(ctx)
}

// NewCRM returns the syncer's Brevo, sending through client; every synced
// contact joins listIDs.
func NewCRM(client *Client, listIDs []int64) *CRM {
	return &CRM{client: client, listIDs: listIDs}
}

// NoteSMSLeftOut is written on a synced row whose phone number Brevo
// refused because another Brevo contact holds it.
const NoteSMSLeftOut = "phone number not sent as SMS: Brevo has it on another contact (duplicate_parameter SMS)"

// Name is "Brevo".
func (b *CRM) Name() string { return "Brevo" }

// Upsert sends c with POST /contacts and "updateEnabled": true. Failures
// are *syncer.Error, sorted by [Classify].
//
// Brevo refuses a contact whose SMS number another contact holds (facts
// sheet §2): that contact is sent again without its SMS, and the Sent's
// Note says why the row's phone number was left out.
func (b *CRM) Upsert(ctx context.Context, c syncer.Contact) (syncer.Sent, error) {
	ct := b.toContact(c)
	res, err := b.client.UpsertContact(ctx, ct)
	note := ""
	if apiErr, ok := errors.AsType[*APIError](err); ok && apiErr.DuplicateSMS() && ct.Attributes["SMS"] != nil {
		delete(ct.Attributes, "SMS")
		note = NoteSMSLeftOut
		if err = b.pace(ctx); err == nil {
			res, err = b.client.UpsertContact(ctx, ct)
		}
	}
	if e, ok := errors.AsType[*syncer.Error](err); ok {
		return syncer.Sent{}, e // the budget held the extra request back
	}
	if err != nil {
		return syncer.Sent{}, crmError(err)
	}
	sent := syncer.Sent{Status: http.StatusNoContent, Note: note}
	if res.Created {
		sent.Status = http.StatusCreated
	}
	if res.ID > 0 {
		sent.ID = strconv.FormatInt(res.ID, 10)
	}
	return sent, nil
}

// toContact maps c with the account's attribute types, once loaded.
func (b *CRM) toContact(c syncer.Contact) Contact {
	var types map[string]Attribute
	if t := b.types.Load(); t != nil {
		types = *t
	}
	return ToContact(c, b.listIDs, types)
}

// Probe calls GET /account, which succeeds when the API key works.
func (b *CRM) Probe(ctx context.Context) error {
	if err := b.client.Account(ctx); err != nil {
		return crmError(err)
	}
	return nil
}

// LoadAttributes reads the account's contact attributes, so that each
// mapped value is sent in the form its attribute takes (see ToContact), and
// returns them. Until it succeeds, values are sent in the mapping's own
// form.
func (b *CRM) LoadAttributes(ctx context.Context) ([]Attribute, error) {
	attrs, err := b.client.Attributes(ctx)
	if err != nil {
		return nil, err
	}
	types := typesOf(attrs)
	b.types.Store(&types)
	return attrs, nil
}
