package brevo

import (
	"context"
	"net/http"
	"strconv"

	"github.com/brevosync/brevosync/syncer"
)

// CRM is Brevo as the syncer's destination: it implements [syncer.CRM] with
// a [Client] and the attribute mapping ([ToContact]).
type CRM struct {
	client  *Client
	listIDs []int64
}

var _ syncer.CRM = (*CRM)(nil)

// NewCRM returns the syncer's Brevo, sending through client; every synced
// contact joins listIDs.
func NewCRM(client *Client, listIDs []int64) *CRM {
	return &CRM{client: client, listIDs: listIDs}
}

// Name is "Brevo".
func (b *CRM) Name() string { return "Brevo" }

// Upsert sends c with POST /contacts and "updateEnabled": true. Failures
// are *syncer.Error, sorted by [Classify].
func (b *CRM) Upsert(ctx context.Context, c syncer.Contact) (syncer.Sent, error) {
	res, err := b.client.UpsertContact(ctx, ToContact(c, b.listIDs))
	if err != nil {
		return syncer.Sent{}, crmError(err)
	}
	sent := syncer.Sent{Status: http.StatusNoContent}
	if res.Created {
		sent.Status = http.StatusCreated
	}
	if res.ID > 0 {
		sent.ID = strconv.FormatInt(res.ID, 10)
	}
	return sent, nil
}

// Probe calls GET /account, which succeeds when the API key works.
func (b *CRM) Probe(ctx context.Context) error {
	if err := b.client.Account(ctx); err != nil {
		return crmError(err)
	}
	return nil
}
