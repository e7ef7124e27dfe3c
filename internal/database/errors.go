package database

import "fmt"

// SchemaBehindError: the database lacks migrations this binary needs.
type SchemaBehindError struct {
	Current, Latest int64
	DBURL           string // redacted
}

func (e *SchemaBehindError) Error() string {
	return fmt.Sprintf("database schema is at version %d but this rgrid needs %d", e.Current, e.Latest)
}

// Hint says how to bring the schema up to date.
func (e *SchemaBehindError) Hint() string {
	return fmt.Sprintf(`run "rgrid migrate up --db %s" or start the server with --migrate`, e.DBURL)
}

// SchemaAheadError: the database was migrated by a newer rgrid, through a
// migration not marked compatible with this binary.
type SchemaAheadError struct {
	Current, Latest int64
	DBURL           string  // redacted
	Incompatible    []int64 // the newer migrations not marked compatible; empty if none carries marks
}

func (e *SchemaAheadError) Error() string {
	msg := fmt.Sprintf("database schema is at version %d, newer than this rgrid binary knows (%d)", e.Current, e.Latest)
	if len(e.Incompatible) > 0 {
		msg += fmt.Sprintf(", and migration(s) %v of those are not marked compatible with older binaries", e.Incompatible)
	}
	return msg
}

// Hint says how to get a binary and a schema that agree.
func (e *SchemaAheadError) Hint() string {
	return fmt.Sprintf(`upgrade rgrid, or run "rgrid migrate down --db %s" with the newer binary until the schema is at version %d`, e.DBURL, e.Latest)
}
