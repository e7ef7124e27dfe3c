package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/server"
)

// Bootstrap makes a new admin token in the database at db, for the user
// server.BootstrapAdmin (made if missing): rgrid admin bootstrap, run on
// the server machine before any user exists. Every call makes another
// token. migrate applies pending migrations first.
func Bootstrap(ctx context.Context, db string, migrate bool) (user, token string, err error) {
	st, err := database.Open(ctx, db, database.Options{Migrate: migrate})
	var behind *database.SchemaBehindError
	if errors.As(err, &behind) {
		return "", "", platformErr(fmt.Sprintf(`run "rgrid migrate up --db %s" first, or pass --migrate`, behind.DBURL), "%v", err)
	}
	if err != nil {
		return "", "", dbError(err)
	}
	defer st.Close()
	token, _, err = server.Bootstrap(ctx, st, "", time.Now().UTC())
	if err != nil {
		return "", "", platformErr("check that the database is reachable and writable",
			"make the first admin token: %v", err)
	}
	return server.BootstrapAdmin, token, nil
}
