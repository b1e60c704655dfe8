// Package operator holds what an operator does to the sync: select,
// unselect and retry contacts, and read the status report, the failures and
// one contact's state. Each operation is a function over the database that
// returns a result and prints nothing, so the command line and the HTTP API
// call the same code and say the same thing.
//
// # Guarantees
//
//   - The application's own writes. Select and the retries write the
//     application's selecting write (schema.RequestSet): the request
//     trigger then starts the request fresh and notifies the running
//     service, exactly as when a user selects a contact in the application.
//     Unselect writes the application's unselect (schema.New). Nothing here
//     talks to the CRM.
//   - Checked first, all or nothing. Select and Unselect take checked input
//     (Entries: a NUL byte, invalid UTF-8, an over-long line, neither an
//     email nor a uuid each make a bad entry, named by line or field). Any
//     bad entry stops them before they write, with an *InvalidError that
//     lists every bad entry, unless the caller asks Select to skip them.
//   - One transaction. The entries are then written in one transaction
//     (several statements of SelectOptions.Batch entries inside it), so the
//     service gets one notification and a database error leaves nothing
//     applied: running the same input again is safe.
//   - One email key. Emails are matched by schema.EmailKey (served by its
//     index) and entries normalized by schema.NormalizeEmail.
//   - Any schema. Status, Failures and Contact read what the database has,
//     before migrate too, and fail only when the database does.
package operator

import "github.com/jackc/pgx/v5/pgxpool"

// DB is the database the operations run on: a pool on DATABASE_URL.
type DB = *pgxpool.Pool
