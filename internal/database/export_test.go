package database

import "database/sql"

// DB exposes the migrator's connection to tests, for raw SQL.
func (m *Migrator) DB() *sql.DB { return m.db }

// MarksTable is where the migrations' compatibility marks are kept.
const MarksTable = marksTable
