package postgres_test

import (
	"testing"

	"github.com/rgrid/rgrid/internal/store"
	"github.com/rgrid/rgrid/internal/store/storetest"
	"github.com/rgrid/rgrid/internal/testdb"
)

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return testdb.OpenPostgres(t) })
}
