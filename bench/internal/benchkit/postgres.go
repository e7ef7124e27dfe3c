package benchkit

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// AdminURL is the PostgreSQL cluster the bench programs use: the one
// scripts/pg.sh started (RGRID_TEST_POSTGRES_URL).
func AdminURL() (string, error) {
	u := os.Getenv("RGRID_TEST_POSTGRES_URL")
	if u == "" {
		return "", errors.New("no PostgreSQL: run scripts/bench.sh, or source scripts/pg.sh && pg_start first (RGRID_TEST_POSTGRES_URL)")
	}
	return u, nil
}

// CreateDB creates a database named prefix_<random> in the cluster at
// admin and returns its URL and a function that drops it.
func CreateDB(ctx context.Context, admin, prefix string) (string, func(), error) {
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, fmt.Errorf("parse %s: %w", admin, err)
	}
	name := prefix + "_" + strings.ToLower(rand.Text()[:10])
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	drop := func() {
		// Its own deadline: the program's context may be over by now.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			fmt.Fprintf(os.Stderr, "drop database %s: %v\n", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "drop database %s: %v\n", name, err)
		}
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}
