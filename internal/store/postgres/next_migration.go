//go:build rgrid_next_migration

package postgres

import (
	"embed"
	"io/fs"
	"testing/fstest"
)

// A build with the tag rgrid_next_migration stands for the next release
// of rgrid in the rolling-upgrade test: it embeds one more migration,
// marked compatible, after this tree's own.
//
//go:embed testdata/next/*.sql
var nextMigrations embed.FS

func init() {
	all := fstest.MapFS{}
	for _, src := range []fs.FS{mustSub(migrations, "migrations"), mustSub(nextMigrations, "testdata/next")} {
		names, err := fs.Glob(src, "*.sql")
		if err != nil {
			panic(err)
		}
		for _, n := range names {
			b, err := fs.ReadFile(src, n)
			if err != nil {
				panic(err)
			}
			all[n] = &fstest.MapFile{Data: b, Mode: 0o444}
		}
	}
	migrationsFS = all
}
