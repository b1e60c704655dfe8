package brevotest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// Attribute is a contact attribute defined in the simulated account.
type Attribute struct {
	// Name is the attribute's name, stored upper-cased.
	Name string `json:"name"`
	// Category is "normal", "transactional", "category", "calculated" or
	// "global".
	Category string `json:"category"`
	// Type is "text", "date", "float", "boolean", ...
	Type string `json:"type,omitempty"`
	// Enumeration are a category attribute's values and labels.
	Enumeration []EnumValue `json:"enumeration,omitempty"`
}

// EnumValue is one value of a category attribute.
type EnumValue struct {
	Value int    `json:"value"`
	Label string `json:"label"`
}

func defaultAttributes() []Attribute {
	return []Attribute{
		{Name: "FIRSTNAME", Category: "normal", Type: "text"},
		{Name: "LASTNAME", Category: "normal", Type: "text"},
		{Name: "EMAIL", Category: "normal", Type: "text"},
		{Name: "SMS", Category: "normal", Type: "text"},
	}
}

// Attributes returns the account's contact attributes, in creation order.
func (s *Server) Attributes() []Attribute {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.attrs)
}

// handleAttributes answers GET /v3/contacts/attributes.
func (s *Server) handleAttributes(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	out, _ := json.Marshal(struct {
		Attributes []Attribute `json:"attributes"`
	}{s.attrs})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

var (
	attributeCategories = []string{"normal", "transactional", "category", "calculated", "global"}
	attributeTypes      = []string{"text", "date", "float", "boolean", "id", "category", "multiple-choice", "user"}
)

// handleCreateAttribute answers POST /v3/contacts/attributes/{category}/{name}
// with body {"type": ...}: 201 with no body, or 400.
func (s *Server) handleCreateAttribute(w http.ResponseWriter, r *http.Request) {
	category := r.PathValue("category")
	name := strings.ToUpper(strings.TrimSpace(r.PathValue("name")))
	var in struct {
		Type string `json:"type"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "Input must be a valid JSON object")
		return
	}
	switch {
	case !slices.Contains(attributeCategories, category):
		writeError(w, http.StatusBadRequest, "invalid_parameter", "Invalid attribute category")
		return
	case name == "":
		writeError(w, http.StatusBadRequest, "invalid_parameter", "Invalid attribute name")
		return
	case category == "normal" && !slices.Contains(attributeTypes, in.Type):
		writeError(w, http.StatusBadRequest, "invalid_parameter", "Invalid attribute type")
		return
	}

	s.mu.Lock()
	exists := slices.ContainsFunc(s.attrs, func(a Attribute) bool { return a.Name == name })
	if !exists {
		s.attrs = append(s.attrs, Attribute{Name: name, Category: category, Type: in.Type})
	}
	s.mu.Unlock()
	if exists {
		writeError(w, http.StatusBadRequest, "duplicate_parameter", "Attribute name must be unique")
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// handleAccount answers GET /v3/account.
func (s *Server) handleAccount(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"email":"sim@example.com","companyName":"brevotest"}`))
}
