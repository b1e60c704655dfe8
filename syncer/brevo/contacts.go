package brevo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// Contact is what an upsert sends to Brevo.
type Contact struct {
	// Email identifies the contact. Brevo matches it as given; callers
	// normally send it lower-cased and trimmed.
	Email string
	// Attributes are contact attributes by their (upper-case) Brevo name;
	// values are strings, bools or numbers. Empty: "attributes" is left out.
	Attributes map[string]any
	// ListIDs are lists to add the contact to. Empty: "listIds" is left out.
	ListIDs []int64
}

// upsertBody is the exact POST /contacts body. It deliberately has no
// emailBlacklisted/smsBlacklisted fields: sending false would re-subscribe
// contacts who unsubscribed.
type upsertBody struct {
	Email         string         `json:"email"`
	Attributes    map[string]any `json:"attributes,omitempty"`
	ListIDs       []int64        `json:"listIds,omitempty"`
	UpdateEnabled bool           `json:"updateEnabled"`
}

// UpsertResult is Brevo's answer to a successful upsert.
type UpsertResult struct {
	// ID is Brevo's contact id when Brevo returned one (201 {"id": N}),
	// else 0 (204: an existing contact was updated).
	ID int64
	// Created reports a 201: the contact did not exist before.
	Created bool
	// RateLimit is what the response's rate-limit headers said.
	RateLimit RateLimit
}

// UpsertContact creates ct in Brevo or, when its email is known, updates it:
// POST /contacts with "updateEnabled": true.
func (c *Client) UpsertContact(ctx context.Context, ct Contact) (UpsertResult, error) {
	const op = "upsert contact"
	resp, err := c.do(ctx, op, http.MethodPost, "/contacts", upsertBody{
		Email:         ct.Email,
		Attributes:    ct.Attributes,
		ListIDs:       ct.ListIDs,
		UpdateEnabled: true,
	})
	if err != nil {
		return UpsertResult{}, err
	}
	res := UpsertResult{
		Created:   resp.status == http.StatusCreated,
		RateLimit: parseRateLimit(resp.header),
	}
	if resp.status == http.StatusNoContent || len(resp.body) == 0 {
		return res, nil
	}
	var body struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(resp.body, &body); err != nil {
		return UpsertResult{}, fmt.Errorf("%s: decode %d response: %w", op, resp.status, err)
	}
	res.ID = body.ID
	return res, nil
}

// Account calls GET /account, a read-only request that succeeds when the API
// key works. Use it to probe credentials after an Unauthorized error.
func (c *Client) Account(ctx context.Context) error {
	_, err := c.AccountName(ctx)
	return err
}

// AccountName calls GET /account and names the account: its company, else
// its email.
func (c *Client) AccountName(ctx context.Context) (string, error) {
	resp, err := c.do(ctx, "get account", http.MethodGet, "/account", nil)
	if err != nil {
		return "", err
	}
	var body struct {
		Email       string `json:"email"`
		CompanyName string `json:"companyName"`
	}
	_ = json.Unmarshal(resp.body, &body) // a name is nice to have; the answer was 2xx
	if body.CompanyName != "" {
		return body.CompanyName, nil
	}
	return body.Email, nil
}

// Attribute is a contact attribute defined in the Brevo account.
type Attribute struct {
	// Name is the attribute's name, e.g. "FIRSTNAME".
	Name string `json:"name"`
	// Category is "normal", "transactional", "category", "calculated" or
	// "global".
	Category string `json:"category"`
	// Type is "text", "date", "float", "boolean", ...; Brevo leaves it out
	// for some categories.
	Type string `json:"type,omitempty"`
	// Enumeration are a category attribute's values and their labels.
	Enumeration []EnumValue `json:"enumeration,omitempty"`
}

// EnumValue is one value of a category attribute: a contact carries Value,
// Brevo's UI shows Label.
type EnumValue struct {
	Value int    `json:"value"`
	Label string `json:"label"`
}

// Attributes lists the account's contact attributes: GET /contacts/attributes.
func (c *Client) Attributes(ctx context.Context) ([]Attribute, error) {
	const op = "list attributes"
	resp, err := c.do(ctx, op, http.MethodGet, "/contacts/attributes", nil)
	if err != nil {
		return nil, err
	}
	var body struct {
		Attributes []Attribute `json:"attributes"`
	}
	if err := json.Unmarshal(resp.body, &body); err != nil {
		return nil, fmt.Errorf("%s: decode response: %w", op, err)
	}
	return body.Attributes, nil
}

// CreateAttribute creates a contact attribute of category "normal" with the
// given type ("text", "boolean", "float", "date", ...):
// POST /contacts/attributes/normal/{name}. It fails with a 400 APIError when
// the attribute exists.
func (c *Client) CreateAttribute(ctx context.Context, name, typ string) error {
	path := "/contacts/attributes/normal/" + url.PathEscape(name)
	_, err := c.do(ctx, "create attribute "+name, http.MethodPost, path, struct {
		Type string `json:"type"`
	}{typ})
	return err
}
