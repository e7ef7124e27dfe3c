package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rgrid/rgrid/internal/server"
	"github.com/rgrid/rgrid/internal/store"
)

// bootstrapFromFile makes sure the store has the admin token of a
// bootstrap file: the token in it, or, when the file does not exist, a
// new one written there (mode 0600, never logged).
func bootstrapFromFile(ctx context.Context, st store.Store, path string, log *slog.Logger) error {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		secret := strings.TrimSpace(string(b))
		_, made, err := server.Bootstrap(ctx, st, secret, time.Now().UTC())
		if err != nil {
			return platformErr("put an RGrid admin token in the file (or remove it: the server writes a new one there)",
				"--bootstrap-token-file %s: %v", path, err)
		}
		if made {
			log.Info("bootstrap: stored the admin token of the bootstrap file", "file", path, "token", secret[:min(12, len(secret))])
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return platformErr("make the file readable by the server, or name another with --bootstrap-token-file", "read the bootstrap token file: %v", err)
	}
	secret, _, err := server.Bootstrap(ctx, st, "", time.Now().UTC())
	if err != nil {
		return fmt.Errorf("bootstrap the first admin token: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return platformErr("name a file in a directory the server may write", "write the bootstrap token file: %v", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return platformErr("name a file in a directory the server may write", "write the bootstrap token file: %v", err)
	}
	_, err = fmt.Fprintln(f, secret)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return platformErr("name a file on a disk with room", "write the bootstrap token file: %v", err)
	}
	log.Info("bootstrap: wrote the first admin token to the bootstrap file (mode 0600); log in with it: rgrid login SERVER",
		"file", path, "token", secret[:12])
	return nil
}

// checkAuthMode says at start how the server authenticates, and refuses
// an open server (no credentials at all) beyond loopback.
func checkAuthMode(ctx context.Context, srv *server.Server, addr net.Addr, opts server.Options, log *slog.Logger) error {
	if opts.Token != "" {
		log.Warn("--token (one shared token for every user and worker) is deprecated and goes away in the next release: " +
			"it acts as an admin and as a worker; make users (rgrid admin user create) and worker tokens (rgrid admin worker-token create) instead")
	}
	open, err := srv.OpenMode(ctx)
	if err != nil {
		return err
	}
	if !open {
		return nil
	}
	if !loopback(addr) {
		return platformErr("give the server credentials: --bootstrap-token-file FILE (it writes the first admin token there), or run \"rgrid admin bootstrap\" against its database first; or listen on 127.0.0.1",
			"refusing to serve %s in open mode: this server has no users or tokens, so anyone who reaches it would be an admin", addr)
	}
	log.Warn("open mode: no users or tokens exist, so every caller is an admin; serving on loopback only. " +
		"Make the first admin token with --bootstrap-token-file or \"rgrid admin bootstrap\" to require tokens")
	return nil
}

// loopback reports whether addr is on a loopback interface only.
func loopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP != nil && tcp.IP.IsLoopback()
}
