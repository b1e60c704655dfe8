package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/brevosync/brevosync/cmd/brevosync/pgtmp"
	"github.com/brevosync/brevosync/syncer"
)

// The ways demo finds a database, in the order it tries them.
const (
	demoModeURL     = "database_url" // DATABASE_URL, used as is
	demoModeLocal   = "local"        // a fresh database on a local server
	demoModeCluster = "cluster"      // a throwaway cluster
)

// demoDB is the database the demo runs on.
type demoDB struct {
	mode  string
	url   string
	where string // for people: which server, which database
	// release drops the demo database or stops the cluster; nil when there
	// is nothing to undo (DATABASE_URL).
	release func(ctx context.Context) error
	// keepHint says how to connect and clean up by hand, for --keep.
	keepHint string
}

// provisionDB picks the database: DATABASE_URL, else a fresh database on a
// local server, else a throwaway cluster; with -cluster, the last at once.
func (d *demo) provisionDB(ctx context.Context) (*demoDB, error) {
	if !d.opts.Cluster {
		if u := d.env.Getenv("DATABASE_URL"); u != "" {
			return &demoDB{mode: demoModeURL, url: u, where: "DATABASE_URL (" + demoDescribeURL(u) + ")"}, nil
		}
		db, err := d.localDB(ctx)
		if err != nil {
			return nil, err
		}
		if db != nil {
			return db, nil
		}
	}
	return d.clusterDB(ctx)
}

// localDB creates brevosync_demo_<random> on the first local server that
// lets us in, trying TCP on 127.0.0.1:5432 and the usual socket directories,
// as the postgres user and then as this OS user. It returns nil, nil when
// none answers.
func (d *demo) localDB(ctx context.Context) (*demoDB, error) {
	for _, c := range pgtmp.LocalServers() {
		u, h := c.Role, c.Host
		admin := c.URL("postgres")
		conn, err := pgtmp.Probe(ctx, admin)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			d.debugf("no local server as %s on %s: %v", u, h, err)
			continue
		}
		db, err := d.createLocalDB(ctx, conn, c)
		conn.Close(context.WithoutCancel(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			d.sayf("  (a local server answers as %s on %s, but: %v)", u, h, err)
			continue
		}
		return db, nil
	}
	return nil, nil
}

func (d *demo) createLocalDB(ctx context.Context, conn *pgx.Conn, srv pgtmp.LocalServer) (*demoDB, error) {
	host, role, admin := srv.Host, srv.Role, srv.URL("postgres")
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "brevosync_demo_" + hex.EncodeToString(b)
	var version int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("create database: %w", err)
	}
	where := fmt.Sprintf("a new database %s on the local server (%s, user %s, PostgreSQL %d.%d)",
		name, host, role, version/10000, version%10000)
	return &demoDB{
		mode:  demoModeLocal,
		url:   srv.URL(name),
		where: where,
		release: func(ctx context.Context) error {
			// Not cut short by a second Ctrl-C: dropping takes a moment.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
			defer cancel()
			conn, err := pgtmp.Probe(ctx, admin)
			if err != nil {
				return fmt.Errorf("drop database %s: %w", name, err)
			}
			defer conn.Close(ctx)
			drop := "DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize()
			if version >= 130000 {
				drop += " WITH (FORCE)"
			}
			if _, err := conn.Exec(ctx, drop); err != nil {
				return fmt.Errorf("drop database %s: %w", name, err)
			}
			d.debugf("dropped database %s", name)
			return nil
		},
		keepHint: fmt.Sprintf("The database %s is kept.\n  connect: psql '%s'\n  status:  DATABASE_URL='%s' brevosync status\n  drop it: psql '%s' -c 'DROP DATABASE %s'",
			name, srv.URL(name), srv.URL(name), admin, name),
	}, nil
}

// demoFindBinaries is pgtmp.FindBinaries; tests replace it.
var demoFindBinaries = pgtmp.FindBinaries

// clusterDB starts a throwaway cluster.
func (d *demo) clusterDB(ctx context.Context) (*demoDB, error) {
	bin, err := demoFindBinaries()
	if err != nil {
		return nil, err
	}
	d.sayf("Starting a throwaway Postgres cluster from %s (removed at exit) ...", bin)
	t0 := time.Now()
	c, err := pgtmp.Start(ctx, pgtmp.Options{Logf: d.debugf, BinDir: bin})
	if err != nil {
		return nil, err
	}
	return &demoDB{
		mode: demoModeCluster,
		url:  c.URL(),
		where: fmt.Sprintf("a throwaway cluster in %s, port %d (%s, started in %s)",
			c.Dir(), c.Port(), c.Version(), time.Since(t0).Round(10*time.Millisecond)),
		release: c.Stop,
		keepHint: fmt.Sprintf("The cluster keeps running in %s.\n  connect: psql '%s'\n  status:  DATABASE_URL='%s' brevosync status\n  stop it: %s",
			c.Dir(), c.URL(), c.URL(), c.StopCommand()),
	}, nil
}

// demoDescribeURL names the database of a connection string (URL or
// key=value form) without its password.
func demoDescribeURL(dsn string) string {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "unparsable"
	}
	return fmt.Sprintf("database %s on %s:%d as %s", cfg.Database, cfg.Host, cfg.Port, cfg.User)
}

// demoPlace is where the demo contacts point: domain_id and page_id, which
// are NOT NULL with foreign keys on the application's database.
type demoPlace struct{ domainID, pageID *string }

// demoSeedPlace picks values for domain_id and page_id: on a fresh schema
// (nullable, no foreign key) made-up ids; where they must reference a row,
// an existing page and its domain.
func demoSeedPlace(ctx context.Context, conn *pgxpool.Pool) (demoPlace, error) {
	var required bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (
		SELECT 1 FROM pg_constraint
		 WHERE conrelid = 'contacts'::regclass AND contype = 'f'
		   AND conkey && ARRAY(SELECT attnum FROM pg_attribute
		                        WHERE attrelid = 'contacts'::regclass
		                          AND attname IN ('domain_id', 'page_id')))`).Scan(&required)
	if err != nil {
		return demoPlace{}, fmt.Errorf("inspect contacts: %w", err)
	}
	if !required {
		dom, page := "d0000000-0000-4000-8000-000000000001", "e0000000-0000-4000-8000-000000000001"
		return demoPlace{&dom, &page}, nil
	}
	var dom, page string
	err = conn.QueryRow(ctx, `SELECT domain_id::text, id::text FROM pages LIMIT 1`).Scan(&dom, &page)
	if err != nil {
		return demoPlace{}, fmt.Errorf("contacts here need a domain and a page (foreign keys), "+
			"and no page could be found to attach the demo contacts to (%w): run the demo on another database", err)
	}
	return demoPlace{&dom, &page}, nil
}

// demoRole is what the simulator is told to do with a contact.
type demoRole int

const (
	demoNormal  demoRole = iota
	demoInvalid          // an email Brevo rejects (400): Failed at once
	demoFlaky            // Brevo answers 500 once: retried, then Complete
	demoLimited          // Brevo answers 429 once: a wait for the reset, then Complete
)

// demoContact is one seeded contact and what became of it.
type demoContact struct {
	id       pgtype.UUID
	key      string // the id as text, as syncer.Outcome has it
	name     string
	email    string
	phone    string
	role     demoRole
	selected time.Time // when the selecting transaction committed
	outcomes []demoOutcome
}

// last is the latest outcome; the zero Outcome before any.
func (c *demoContact) last() demoOutcome {
	if len(c.outcomes) == 0 {
		return demoOutcome{}
	}
	return c.outcomes[len(c.outcomes)-1]
}

// done reports whether the contact reached Complete or Failed.
func (c *demoContact) done() bool {
	r := c.last().Result
	return r == syncer.ResultComplete || r == syncer.ResultFailed
}

// demoOutcome is an outcome and when the demo heard of it.
type demoOutcome struct {
	syncer.Outcome
	at time.Time
}

// demoNames are the cast: pioneers of computing. The first demoOneByOne are
// selected one at a time, the rest in one statement.
var demoNames = []string{
	"Ada Lovelace", "Grace Hopper", "Alan Turing", "Charles Babbage", "Katherine Johnson",
	"Edsger Dijkstra", "Barbara Liskov", "Linus",
	"Donald Knuth", "Margaret Hamilton", "Dennis Ritchie", "Ken Thompson", "Frances Allen",
	"John McCarthy", "Radia Perlman", "Tim Berners-Lee", "Hedy Lamarr", "Claude Shannon",
	"Annie Easley", "Vint Cerf", "Adele Goldberg", "Niklaus Wirth", "Sophie Wilson",
	"Leslie Lamport", "Shafi Goldwasser", "Tony Hoare", "Karen Sparck Jones", "Robin Milner",
	"Jean Sammet", "Alan Kay", "Mary Kenneth Keller", "Butler Lampson", "Evelyn Berezin",
	"Bjarne Stroustrup", "Joan Clarke", "Guido van Rossum", "Lynn Conway", "Ivan Sutherland",
	"Betty Holberton", "John Backus", "Kathleen Booth", "Whitfield Diffie", "Carol Shaw",
	"Marvin Minsky", "Jean Bartik", "Seymour Cray", "Elizabeth Feinler", "Ida Rhodes",
	"Rob Pike", "Anita Borg",
}

const (
	demoDomain   = "demo.brevosync.test" // every demo email ends with @demoDomain
	demoOneByOne = 8
)

// demoCast builds the contacts: Charles Babbage's email has a typo Brevo
// rejects, Grace Hopper meets a 500 (the first bug), Claude Shannon a 429.
func demoCast() []*demoContact {
	cs := make([]*demoContact, len(demoNames))
	for i, name := range demoNames {
		c := &demoContact{name: name}
		local := strings.ToLower(strings.Join(strings.Fields(name), "."))
		switch name {
		case "Charles Babbage":
			c.role = demoInvalid
			local = "charles babbage" // a space: not an address
		case "Grace Hopper":
			c.role = demoFlaky
		case "Claude Shannon":
			c.role = demoLimited
		}
		c.email = local + "@" + demoDomain
		if i%3 == 0 {
			c.phone = fmt.Sprintf("+3361%07d", 1000000+i*7919)
		}
		cs[i] = c
	}
	return cs
}

// demoEmailMatch matches the demo's contacts in SQL.
const demoEmailMatch = `lower(email) LIKE '%@` + demoDomain + `'`

// seedDemo deletes the contacts an earlier demo left and inserts cs, not
// selected, filling in their ids. It returns how many old ones it deleted.
func seedDemo(ctx context.Context, pool *pgxpool.Pool, cs []*demoContact) (int64, error) {
	place, err := demoSeedPlace(ctx, pool)
	if err != nil {
		return 0, err
	}
	var removed int64
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM contacts WHERE `+demoEmailMatch)
		if err != nil {
			return fmt.Errorf("delete earlier demo contacts: %w", err)
		}
		removed = tag.RowsAffected()
		b := &pgx.Batch{}
		for i, c := range cs {
			var phone *string
			if c.phone != "" {
				phone = &c.phone
			}
			emailType := "business"
			if i%4 == 1 {
				emailType = "personal"
			}
			b.Queue(`INSERT INTO contacts (email, name, phone_number, domain_id, page_id, email_type, source_url, has_gmail)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
				c.email, c.name, phone, place.domainID, place.pageID, emailType,
				fmt.Sprintf("https://%s/team#%d", demoDomain, i+1), i%5 == 2,
			).QueryRow(func(row pgx.Row) error {
				if err := row.Scan(&c.id); err != nil {
					return fmt.Errorf("insert demo contact %s: %w", c.email, err)
				}
				c.key = c.id.String()
				return nil
			})
		}
		return tx.SendBatch(ctx, b).Close()
	})
	return removed, err
}
