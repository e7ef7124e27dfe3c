// Package dialects holds the tests that hold the two stores to one data
// model: the same migrations, the same schema, and the same outcome of
// every call, checked side by side on PostgreSQL and SQLite.
package dialects
