package node

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rgrid/rgrid/client"

	"github.com/rgrid/rgrid/internal/config"
	"github.com/rgrid/rgrid/internal/database"
	"github.com/rgrid/rgrid/internal/fleet"
	"github.com/rgrid/rgrid/internal/pgnotify"
	"github.com/rgrid/rgrid/internal/runtimes"
	"github.com/rgrid/rgrid/internal/server"
	"github.com/rgrid/rgrid/internal/startstop"
	"github.com/rgrid/rgrid/internal/store"
	"github.com/rgrid/rgrid/internal/store/postgres"
)

// ServerConfig is what rgrid server runs.
type ServerConfig struct {
	DB      string // postgres://… or a SQLite file
	Migrate bool   // apply pending migrations first
	// ListenDB is where the replica notifications' own connection goes
	// (LISTEN needs a session: not a transaction pooler); "" is DB.
	// PostgreSQL only.
	ListenDB string
	Listen   string
	// Blobs is where jobs' files are kept: a directory or an s3:// URL;
	// "" is a directory beside a SQLite database, else in the data
	// directory (one machine only: replicas need S3 or a shared one).
	Blobs    string
	Runtimes *runtimes.Table
	Options  ServerOptions
	TLS      ServerTLS
	// BootstrapTokenFile holds the first admin's token: read and stored
	// at start, or made and written there when the file does not exist.
	// With it the server is never in open mode.
	BootstrapTokenFile string
	// SecretKeyFile holds the key that seals jobs' secret environment
	// values; "" is a key file made beside a SQLite database, and none on
	// PostgreSQL (secrets are then refused).
	SecretKeyFile string
	// Autoscale starts and stops the machines of worker pools; off
	// without pools.
	Autoscale Autoscale
	Log       *slog.Logger
}

// RunServer serves the API and runs the reaper until ctx ends, then shuts
// down: long polls are released, the HTTP server drains, the reaper stops,
// and only then is the store closed.
func RunServer(ctx context.Context, c ServerConfig) error {
	// What the command line says about the wire is checked before the
	// database is touched.
	tlsConf, err := serverTLS(c.TLS, c.Listen, c.Log)
	if err != nil {
		return err
	}
	st, err := database.Open(ctx, c.DB, database.Options{Migrate: c.Migrate})
	if err != nil {
		return dbError(err)
	}
	defer st.Close()
	dataDir, _ := config.DataDir()
	blobs, where, err := openBlobs(ctx, c.Blobs, defaultBlobDir(c.DB, dataDir))
	if err != nil {
		return err
	}
	c.Options.Blobs = blobs
	if c.Options.Secrets, err = secretSource(c.SecretKeyFile, c.DB, st.Dialect(), c.Log); err != nil {
		return err
	}
	if c.BootstrapTokenFile != "" {
		c.Options.AuthRequired = true
		if err := bootstrapFromFile(ctx, st, c.BootstrapTokenFile, c.Log); err != nil {
			return err
		}
	}
	if err := replicaRelay(&c, st); err != nil {
		return err
	}
	ln, err := listen(c.Listen)
	if err != nil {
		return err
	}
	var (
		scaler  *fleet.Autoscaler
		scaling atomic.Bool // this replica runs the autoscaler now
	)
	if len(c.Autoscale.Pools) > 0 {
		var closeProviders func()
		scaler, closeProviders, err = newAutoscaler(ctx, c.Autoscale, st, c.Options.MaxLeaseWait, c.Log)
		if err != nil {
			ln.Close()
			return err
		}
		defer closeProviders()
		c.Options.Pools = func() ([]client.PoolStatus, bool) { return scaler.Status(), scaling.Load() }
	}
	srv := server.New(st, c.Runtimes, c.Log, c.Options)
	if err := checkAuthMode(ctx, srv, ln.Addr(), c.Options, c.Log); err != nil {
		ln.Close()
		return err
	}
	if scaler != nil {
		// The machines get worker tokens: on an open grid the first one
		// would close it to everyone else.
		if open, err := srv.OpenMode(ctx); err != nil || open {
			ln.Close()
			if err != nil {
				return err
			}
			return platformErr("start the server with --bootstrap-token-file FILE (or run \"rgrid admin bootstrap\" first)",
				"autoscaling ([[pools]] in the config file) needs a server that requires tokens: each machine gets a worker token of its own")
		}
	}
	if err := srv.Start(ctx); err != nil {
		ln.Close()
		return err
	}
	defer srv.Stop()
	a := newAPI(ln, srv.Handler())
	scheme := "http"
	if tlsConf != nil {
		a.hs.TLSConfig, scheme = tlsConf, "https"
		// Handshakes refused (a client without the CA, a scanner) are the
		// client's to fix; the server's log notes them without alarm.
		a.hs.ErrorLog = slog.NewLogLogger(c.Log.Handler(), slog.LevelInfo)
	}
	_ = a.Start(ctx) // an api always starts
	if scaler != nil {
		// One replica at a time starts and stops machines: two would both
		// see the same queue and buy twice.
		svc := srv.Singleton("autoscaler", func(ctx context.Context) {
			scaling.Store(true)
			defer scaling.Store(false)
			_ = scaler.Start(ctx) // an autoscaler always starts
			<-ctx.Done()
			scaler.Stop()
		})
		_ = svc.Start(ctx) // an elector or a func always starts
		defer svc.Stop()
		c.Log.Info("autoscaler started", "pools", len(c.Autoscale.Pools))
	}
	c.Log.Info("rgrid server listening", "addr", ln.Addr().String(), "scheme", scheme, "db", database.Redact(c.DB), "dialect", st.Dialect(), "blobs", where)
	select {
	case <-ctx.Done():
		c.Log.Info("shutting down")
	case <-a.Stopped():
	}
	a.Stop()
	return a.Err()
}

// replicaRelay sets what replicas of a PostgreSQL database need: the relay
// that carries wake-ups between them, and the leases that run the reaper
// and retention on one of them. SQLite serves one process and needs
// neither.
func replicaRelay(c *ServerConfig, st store.Store) error {
	pg, ok := st.(*postgres.Store)
	if !ok {
		if c.ListenDB != "" {
			return usageErr("drop --db-listen: a SQLite database serves one process", "--db-listen is for a PostgreSQL --db only")
		}
		return nil
	}
	url := c.ListenDB
	if url == "" {
		url = c.DB
	}
	if d, err := database.Dialect(url); err != nil || d != database.DialectPostgres {
		return usageErr("pass a postgres://… URL of the same database, straight to PostgreSQL (not through a transaction pooler)", "--db-listen %q is not a PostgreSQL URL", database.Redact(url))
	}
	r, err := pgnotify.New(url, pg.Pool(), c.Log)
	if err != nil {
		return usageErr("pass a postgres://… URL of the same database to --db-listen", "%v", err)
	}
	c.Options.Relay, c.Options.Elect = r, true
	return nil
}

// listen opens addr, or says how to free it.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, platformErr("choose another address with --listen, or stop what uses it", "listen on %s: %v", addr, err)
	}
	return ln, nil
}

// api serves a handler on a listener as a startstop.Service: Stop releases
// the long polls (the requests' base context ends), shuts the HTTP server
// down and waits for it.
type api struct {
	startstop.Base
	ln net.Listener
	hs *http.Server // with a TLSConfig, served over TLS

	mu  sync.Mutex
	err error
}

func newAPI(ln net.Listener, h http.Handler) *api {
	return &api{ln: ln, hs: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
}

func (a *api) Start(ctx context.Context) error {
	ctx, ok, done := a.StartInit(ctx)
	if !ok {
		return nil
	}
	base, cancelBase := context.WithCancelCause(context.WithoutCancel(ctx))
	a.hs.BaseContext = func(net.Listener) context.Context { return base }
	go func() {
		defer done()
		defer cancelBase(server.ErrShuttingDown)
		served := make(chan error, 1)
		go func() {
			if a.hs.TLSConfig != nil {
				served <- a.hs.ServeTLS(a.ln, "", "") // the certificate comes from TLSConfig
				return
			}
			served <- a.hs.Serve(a.ln)
		}()
		select {
		case err := <-served:
			a.setErr(err)
			return
		case <-ctx.Done():
		}
		// In-flight requests end now and are answered 503 (the server's
		// ErrShuttingDown), so a client retries them on another replica.
		cancelBase(server.ErrShuttingDown)
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.setErr(a.hs.Shutdown(sctx))
		a.setErr(<-served) // ErrServerClosed after a Shutdown: not kept
	}()
	return nil
}

func (a *api) setErr(err error) {
	if errors.Is(err, http.ErrServerClosed) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil {
		a.err = err
	}
}

// Err is why the API stopped serving on its own, or the shutdown's
// failure; nil after a clean stop.
func (a *api) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}
