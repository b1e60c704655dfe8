// Package operator holds what an operator does to the sync: select and
// retry contacts, and read the status report. Each operation is a function
// over the database that returns a result and prints nothing, so the
// command line and the HTTP API call the same code and say the same thing.
//
// Every write is the application's own selecting write
// (schema.RequestSet): the request trigger then starts the request fresh
// and notifies the running service, exactly as when a user selects a
// contact in the application. Nothing here talks to the CRM.
package operator

import "github.com/jackc/pgx/v5/pgxpool"

// DB is the database the operations run on: a pool on DATABASE_URL.
type DB = *pgxpool.Pool
