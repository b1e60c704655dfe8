package brevo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/brevosync/brevosync/syncer"
)

// The mirror's requests: GET and PUT /contacts/{identifier}, and the list
// removal.

// ContactInfo is what GET /contacts/{identifier} says of a contact.
type ContactInfo struct {
	ID               int64  `json:"id"`
	Email            string `json:"email"`
	EmailBlacklisted bool   `json:"emailBlacklisted"`
}

// identify is the path and query naming a contact by its id, else its
// email.
func identify(id, email string) string {
	if id != "" {
		return "/contacts/" + url.PathEscape(id) + "?identifierType=contact_id"
	}
	return "/contacts/" + url.PathEscape(email) + "?identifierType=email_id"
}

// GetContact reads a contact by its Brevo id, else its email.
func (c *Client) GetContact(ctx context.Context, id, email string) (ContactInfo, error) {
	const op = "get contact"
	resp, err := c.do(ctx, op, http.MethodGet, identify(id, email), nil)
	if err != nil {
		return ContactInfo{}, err
	}
	var info ContactInfo
	if err := json.Unmarshal(resp.body, &info); err != nil {
		return ContactInfo{}, fmt.Errorf("%s: decode response: %w", op, err)
	}
	return info, nil
}

// updateBody is the PUT /contacts/{identifier} body. EmailBlacklisted is
// sent only as true: to keep a blocklisted contact blocklisted when its
// email changes (Brevo otherwise resubscribes it); never to resubscribe.
type updateBody struct {
	Attributes       map[string]any `json:"attributes,omitempty"`
	ListIDs          []int64        `json:"listIds,omitempty"`
	EmailBlacklisted *bool          `json:"emailBlacklisted,omitempty"`
}

// UpdateContact updates the contact with Brevo id id (else email) in
// place: its attributes (attributes.EMAIL changes its email), the lists it
// joins, and, with keepBlocklisted, its blocklisting kept.
func (c *Client) UpdateContact(ctx context.Context, id, email string, ct Contact, keepBlocklisted bool) error {
	body := updateBody{Attributes: ct.Attributes, ListIDs: ct.ListIDs}
	if keepBlocklisted {
		t := true
		body.EmailBlacklisted = &t
	}
	_, err := c.do(ctx, "update contact", http.MethodPut, identify(id, email), body)
	return err
}

// RemoveFromList takes up to 150 emails out of list listID: POST
// /contacts/lists/{listId}/contacts/remove. Emails not in the list are no
// error.
func (c *Client) RemoveFromList(ctx context.Context, listID int64, emails []string) error {
	path := "/contacts/lists/" + strconv.FormatInt(listID, 10) + "/contacts/remove"
	_, err := c.do(ctx, "remove from list "+strconv.FormatInt(listID, 10), http.MethodPost, path,
		struct {
			Emails []string `json:"emails"`
		}{emails})
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusBadRequest && apiErr.Code == "invalid_parameter" {
		return nil // "Contact already removed from list and/or does not exist"
	}
	return err
}

// ChangeEmail is syncer.Mirror's: the contact Brevo has under c.BrevoID
// (else c.SyncedEmail) gets c's email and data in place. It first reads the
// contact, so that one Brevo has blocklisted stays blocklisted (facts sheet
// §4a: changing a blocklisted contact's email resubscribes it); one Brevo
// no longer has is upserted anew.
func (b *CRM) ChangeEmail(ctx context.Context, c syncer.Contact) (syncer.Sent, error) {
	info, err := b.client.GetContact(ctx, c.BrevoID, c.SyncedEmail)
	if apiErr, ok := errors.AsType[*APIError](err); ok && apiErr.StatusCode == http.StatusNotFound {
		if err := b.pace(ctx); err != nil {
			return syncer.Sent{}, err
		}
		return b.Upsert(ctx, c) // gone from Brevo: create it with the new email
	}
	if err != nil {
		return syncer.Sent{}, crmError(err)
	}
	ct := b.toContact(c)
	if ct.Attributes == nil {
		ct.Attributes = map[string]any{}
	}
	ct.Attributes["EMAIL"] = ct.Email
	if err := b.pace(ctx); err != nil {
		return syncer.Sent{}, err
	}
	keep := info.EmailBlacklisted || c.Unsubscribed
	if err := b.client.UpdateContact(ctx, strconv.FormatInt(info.ID, 10), "", ct, keep); err != nil {
		return syncer.Sent{}, crmError(err)
	}
	return syncer.Sent{ID: strconv.FormatInt(info.ID, 10), Status: http.StatusNoContent}, nil
}

// Remove is syncer.Mirror's: the emails leave every BREVO_LIST_ID list, 150
// a call. With no lists configured there is nothing to do.
func (b *CRM) Remove(ctx context.Context, emails []string) error {
	first := true
	for _, list := range b.listIDs {
		for start := 0; start < len(emails); start += 150 {
			if !first {
				if err := b.pace(ctx); err != nil {
					return err
				}
			}
			first = false
			if err := b.client.RemoveFromList(ctx, list, emails[start:min(start+150, len(emails))]); err != nil {
				return crmError(err)
			}
		}
	}
	return nil
}
