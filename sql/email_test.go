package schema_test

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	schema "github.com/brevosync/brevosync/sql"
	"github.com/brevosync/brevosync/sql/schematest"
)

// TestEmailKeyAgreesWithGo checks that the SQL key and the Go key of an
// email are the same, non-ASCII letters included, in a database whose
// default collation lowers them (when the server offers one) and in "C".
func TestEmailKeyAgreesWithGo(t *testing.T) {
	t.Parallel()
	pool := schematest.NewPool(t)
	emails := []string{
		"Ada@Example.COM", "  ada@example.com\t", "ÉLISE@Exemple.fr", "élise@exemple.fr",
		"STRASSE@Straße.de", "İSTANBUL@örnek.com.tr", "ǅemal@x.ba", "Ωmega@ΕΛΛΑΣ.gr", "plain",
	}
	want := map[string]string{
		"Ada@Example.COM":  "ada@example.com",
		"ÉLISE@Exemple.fr": "Élise@exemple.fr",
		"Ωmega@ΕΛΛΑΣ.gr":   "Ωmega@ΕΛΛΑΣ.gr",
	}
	for _, collation := range []string{`"default"`, `"C"`, `"en_US.utf8"`, `"und-x-icu"`} {
		var ok bool
		if err := pool.QueryRow(t.Context(), `SELECT EXISTS (SELECT FROM pg_collation WHERE quote_ident(collname) = $1 OR $1 = '"default"')`, collation).Scan(&ok); err != nil || !ok {
			continue // the server has no such collation
		}
		for _, e := range emails {
			var got string
			err := pool.QueryRow(t.Context(), `SELECT `+schema.EmailKey(`($1::text COLLATE `+collation+`)`), e).Scan(&got)
			if err != nil {
				t.Fatalf("EmailKey(%q) in %s: %v", e, collation, err)
			}
			if g := schema.NormalizeEmail(e); got != g {
				t.Errorf("collation %s: SQL key of %q = %q, Go key = %q", collation, e, got, g)
			}
		}
	}
	for in, out := range want {
		if got := schema.NormalizeEmail(in); got != out {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", in, got, out)
		}
	}
}

// TestEmailKeyUsesIndex checks that a lookup by key is served by the index.
func TestEmailKeyUsesIndex(t *testing.T) {
	t.Parallel()
	pool := schematest.NewPool(t)
	tx, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(t.Context()) }()
	if _, err := tx.Exec(t.Context(), `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(t.Context(), `EXPLAIN SELECT id FROM contacts WHERE `+schema.EmailKey("email")+` = ANY($1::text[])`,
		[]string{"a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if plan := strings.Join(lines, "\n"); !strings.Contains(plan, "contacts_brevo_email_key_idx") {
		t.Errorf("a lookup by email key does not use contacts_brevo_email_key_idx:\n%s", plan)
	}
}
