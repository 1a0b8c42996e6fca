// Package schematest gives each test a database of its own on the Postgres
// server named by CHILLIN_TEST_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable): a fresh database
// chillin_t_<random>, migrated, dropped again by t.Cleanup.
//
// It only creates and drops databases whose names it drew itself; it never
// touches the database of the URL it was given.
package schematest
