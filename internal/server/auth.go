package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/store"
)

// Authentication and authorization.
//
// Every route is registered with an access class (route), and one
// middleware decides who the caller is (a principal) before any handler
// runs: a user of a user token, a worker of a worker token, the old
// shared token (an admin and a worker at once, deprecated), or nobody on
// an open server (one with no tokens, no shared token and no bootstrap
// file: everyone is an admin, as before users existed; the node refuses
// to serve one beyond loopback). The class then admits the principal or
// answers 401 (no valid credential) or 403 (a valid one of the wrong
// kind). What a user may see within a route is the handlers' business:
// another user's jobs, batches, logs and files answer 404, as unknown ids
// do, so ids cannot be probed.

// access is a route's class: who may call it.
type access int

const (
	accessPublic  access = iota + 1 // anyone: the health check
	accessUser                      // users (any role)
	accessAdmin                     // admins
	accessWorker                    // workers
	accessAny                       // users and workers: blobs, runtimes
	accessConsole                   // console pages: users; others go to the login page
)

func (a access) String() string {
	switch a {
	case accessPublic:
		return "public"
	case accessUser:
		return "user"
	case accessAdmin:
		return "admin"
	case accessWorker:
		return "worker"
	case accessAny:
		return "user or worker"
	case accessConsole:
		return "console"
	}
	return "unknown"
}

// Route is one registered route and its access class, for the test that
// walks them all.
type Route struct {
	Pattern string
	Access  string
}

// principalKind is what kind of caller a request comes from.
type principalKind int

const (
	asOpen   principalKind = iota + 1 // an open server: no credentials exist
	asLegacy                          // the old shared --token
	asUser
	asWorker
)

// principal is the caller of one request.
type principal struct {
	kind  principalKind
	user  store.User  // asUser
	token store.Token // asUser, asWorker
}

// admin reports whether the caller sees and may do everything.
func (p *principal) admin() bool {
	return p.kind == asOpen || p.kind == asLegacy || p.kind == asUser && p.user.Role == store.RoleAdmin
}

// owner is the id the caller's new jobs are stored under: "" on an open
// server and for the shared token.
func (p *principal) owner() string {
	if p.kind == asUser {
		return p.user.ID
	}
	return ""
}

// sees reports whether the caller may see what owner owns.
func (p *principal) sees(owner string) bool {
	return p.admin() || p.kind == asUser && p.user.ID == owner
}

// workerToken is the token id a worker registers with: "" for an open
// server and the shared token, whose workers are not told apart by it.
func (p *principal) workerToken() string {
	if p.kind == asWorker {
		return p.token.ID
	}
	return ""
}

// actor names the caller in the audit log.
func (p *principal) actor() string {
	switch p.kind {
	case asUser:
		return p.user.Name
	case asWorker:
		return "worker:" + p.token.ID
	case asLegacy:
		return "shared-token"
	}
	return "open"
}

type principalKey struct{}

// caller is the request's principal. Every route but the public one has
// one (the middleware answered otherwise).
func caller(r *http.Request) *principal {
	p, _ := r.Context().Value(principalKey{}).(*principal)
	if p == nil {
		return &principal{} // admits nothing
	}
	return p
}

// Token secrets: a kind prefix and 40 characters of the id alphabet (200
// random bits); the first 12 characters are the token's id, shown in
// lists. Only the SHA-256 of the whole secret is stored.
const (
	userTokenPrefix   = "rgu_"
	workerTokenPrefix = "rgw_"
	tokenRandomLen    = 40
	tokenIDLen        = 12
)

// MintToken makes a token of kind (store.TokenUser or TokenWorker): the
// secret to hand out once, and the row to store.
func MintToken(kind string, now time.Time) (secret string, t store.Token) {
	var b [25]byte // 200 bits
	_, _ = rand.Read(b[:])
	prefix := userTokenPrefix
	if kind == store.TokenWorker {
		prefix = workerTokenPrefix
	}
	secret = prefix + strings.ToLower(idEncoding.EncodeToString(b[:]))[:tokenRandomLen]
	return secret, store.Token{ID: secret[:tokenIDLen], Kind: kind, Hash: hashToken(secret), CreatedAt: now}
}

func hashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// looksLikeToken reports whether s has a token's form.
func looksLikeToken(s string) bool {
	return len(s) == len(userTokenPrefix)+tokenRandomLen &&
		(strings.HasPrefix(s, userTokenPrefix) || strings.HasPrefix(s, workerTokenPrefix))
}

// BootstrapAdmin is the name of the admin the first token is made for.
const BootstrapAdmin = "admin"

// Bootstrap makes sure the store has an admin with the given token, or,
// when secret is "", makes one and a token for them: the first admin
// token of a grid (rgrid admin bootstrap, rgrid server
// --bootstrap-token-file). made reports whether it stored anything.
func Bootstrap(ctx context.Context, st store.Store, secret string, now time.Time) (token string, made bool, err error) {
	if secret != "" && !looksLikeToken(secret) {
		return "", false, fmt.Errorf("the bootstrap token is not an RGrid token (%s followed by %d letters and digits)", userTokenPrefix, tokenRandomLen)
	}
	if secret != "" {
		if _, err := st.TokenByHash(ctx, hashToken(secret)); err == nil {
			return secret, false, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return "", false, err
		}
	}
	u, err := st.GetUserByName(ctx, BootstrapAdmin)
	if errors.Is(err, store.ErrNotFound) {
		u, err = st.CreateUser(ctx, store.User{ID: newID("usr_", now), Name: BootstrapAdmin, Role: store.RoleAdmin, CreatedAt: now})
	}
	if err != nil {
		return "", false, err
	}
	if u.Role != store.RoleAdmin {
		return "", false, fmt.Errorf("user %q exists and is not an admin", BootstrapAdmin)
	}
	var t store.Token
	if secret == "" {
		secret, t = MintToken(store.TokenUser, now)
	} else {
		t = store.Token{ID: secret[:tokenIDLen], Kind: store.TokenUser, Hash: hashToken(secret), CreatedAt: now}
	}
	t.UserID, t.Name = u.ID, "bootstrap"
	if err := st.CreateToken(ctx, t); err != nil {
		return "", false, err
	}
	if err := st.AppendAudit(ctx, store.AuditEntry{Time: now, Actor: "bootstrap", Action: "token.create",
		Target: t.ID, Detail: "the first admin token, for user " + BootstrapAdmin}); err != nil {
		return "", false, err
	}
	return secret, true, nil
}

// tokenCacheTTL is how long a checked token is taken without asking the
// store again: a token revoked through another replica stops working
// within it (at once on the replica that revoked it).
const tokenCacheTTL = 10 * time.Second

// touchEvery is how often a token's last-used time is written: at most
// once a minute per token, so that a busy worker's calls are not writes.
const touchEvery = time.Minute

type cachedPrincipal struct {
	p       principal
	fetched time.Time
}

// authState is what authentication keeps between requests.
type authState struct {
	mu     sync.Mutex
	tokens map[[32]byte]cachedPrincipal
	// closed is set once the server is known to have credentials: tokens
	// are never deleted, so a server that had one never opens again.
	closed    atomic.Bool
	openCheck atomic.Int64 // unix nanos of the last look for tokens while open
}

// openMode reports whether the server runs without credentials: no shared
// token, no bootstrap file, and no token in the store (looked for at
// most once a second while none is found).
func (s *Server) openMode(ctx context.Context) (bool, error) {
	if s.opts.Token != "" || s.opts.AuthRequired || s.auth.closed.Load() {
		return false, nil
	}
	now := time.Now()
	if last := s.auth.openCheck.Load(); last != 0 && now.Sub(time.Unix(0, last)) < time.Second {
		return true, nil
	}
	n, err := s.store.CountTokens(ctx)
	if err != nil {
		return false, err
	}
	if n > 0 {
		s.auth.closed.Store(true)
		return false, nil
	}
	s.auth.openCheck.Store(now.UnixNano())
	return true, nil
}

// OpenMode reports whether the server would take calls without a token
// now (see openMode): the node says so at start.
func (s *Server) OpenMode(ctx context.Context) (bool, error) { return s.openMode(ctx) }

// identify finds the request's principal, or says why there is none.
func (s *Server) identify(r *http.Request) (*principal, error) {
	h := r.Header.Get("Authorization")
	if c, err := r.Cookie(sessionCookie); h == "" && err == nil && c.Value != "" {
		return s.sessionPrincipal(r, c.Value)
	}
	if h == "" {
		open, err := s.openMode(r.Context())
		if err != nil {
			return nil, err
		}
		if open {
			return &principal{kind: asOpen}, nil
		}
		return nil, errorf(client.CodeUnauthorized,
			"log in with \"rgrid login SERVER\", or pass a token with --token or RGRID_TOKEN", "this server needs an API token")
	}
	secret, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || secret == "" {
		return nil, errorf(client.CodeUnauthorized, `send "Authorization: Bearer TOKEN"`, "the Authorization header is not a bearer token")
	}
	if s.opts.Token != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.Token)) == 1 {
		return &principal{kind: asLegacy}, nil
	}
	if !looksLikeToken(secret) {
		if open, err := s.openMode(r.Context()); err != nil || open {
			return &principal{kind: asOpen}, err
		}
		return nil, errorf(client.CodeUnauthorized,
			"check the token; \"rgrid token list\" shows yours by prefix", "the API token is not valid")
	}
	return s.tokenPrincipal(r.Context(), secret)
}

// tokenPrincipal checks an RGrid token.
func (s *Server) tokenPrincipal(ctx context.Context, secret string) (*principal, error) {
	return s.hashPrincipal(ctx, sha256.Sum256([]byte(secret)), secret[:tokenIDLen]+"…")
}

// hashPrincipal checks the token whose SHA-256 is key; name says which
// token in messages (its prefix, or "of this session").
func (s *Server) hashPrincipal(ctx context.Context, key [32]byte, name string) (*principal, error) {
	now := s.opts.Now()
	s.auth.mu.Lock()
	c, ok := s.auth.tokens[key]
	s.auth.mu.Unlock()
	if !ok || now.Sub(c.fetched) >= tokenCacheTTL || now.Before(c.fetched) {
		t, err := s.store.TokenByHash(ctx, key[:])
		if errors.Is(err, store.ErrNotFound) {
			if open, err := s.openMode(ctx); err != nil || open {
				return &principal{kind: asOpen}, err
			}
			return nil, errorf(client.CodeUnauthorized,
				"check the token; \"rgrid token list\" shows yours by prefix", "the API token %s is not known to this server", name)
		}
		if err != nil {
			return nil, err
		}
		c = cachedPrincipal{p: principal{token: t, kind: asWorker}, fetched: now}
		if t.Kind == store.TokenUser {
			c.p.kind = asUser
			if c.p.user, err = s.store.GetUser(ctx, t.UserID); err != nil {
				return nil, fmt.Errorf("the user of token %s: %w", t.ID, err)
			}
		}
		s.auth.mu.Lock()
		if s.auth.tokens == nil || len(s.auth.tokens) > 10_000 {
			s.auth.tokens = map[[32]byte]cachedPrincipal{}
		}
		s.auth.tokens[key] = c
		s.auth.mu.Unlock()
	}
	t := c.p.token
	switch {
	case t.RevokedAt != nil:
		return nil, errorf(client.CodeUnauthorized, "ask for a new token (rgrid token create, or an admin)",
			"the API token %s was revoked at %s", t.ID, t.RevokedAt.UTC().Format(time.RFC3339))
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return nil, errorf(client.CodeUnauthorized, "make a new one with \"rgrid token create\" (or ask an admin)",
			"the API token %s expired at %s", t.ID, t.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= touchEvery {
		if err := s.store.TouchToken(ctx, t.ID, now); err != nil {
			s.log.Warn("could not record a token's use", "token", t.ID, "err", err)
		}
		at := now
		c.p.token.LastUsedAt = &at
		s.auth.mu.Lock()
		if cur, ok := s.auth.tokens[key]; ok && cur.fetched.Equal(c.fetched) {
			s.auth.tokens[key] = c
		}
		s.auth.mu.Unlock()
	}
	p := c.p
	return &p, nil
}

// forget drops a token from the cache (it was revoked here).
func (s *Server) forget(tokenID string) {
	s.auth.mu.Lock()
	defer s.auth.mu.Unlock()
	for k, c := range s.auth.tokens {
		if c.p.token.ID == tokenID {
			delete(s.auth.tokens, k)
		}
	}
}

// admits reports whether the principal may call a route of class a, or
// the error to answer.
func admits(a access, p *principal) *apiError {
	forbidden := func(what string) *apiError {
		return errorf(client.CodeForbidden, what, "this endpoint is not for %s", describe(p))
	}
	switch a {
	case accessPublic:
		return nil
	case accessUser, accessConsole:
		if p.kind == asWorker {
			return forbidden("a worker token is for the worker endpoints only; use a user token (rgrid token create)")
		}
	case accessAdmin:
		if p.kind == asWorker {
			return forbidden("a worker token is for the worker endpoints only; use an admin's token")
		}
		if !p.admin() {
			return forbidden("ask an admin (rgrid admin …) to do it")
		}
	case accessWorker:
		if p.kind == asUser {
			return forbidden("workers take a worker token: an admin makes one with \"rgrid admin worker-token create\"")
		}
	case accessAny:
	default:
		return forbidden("this endpoint has no access class")
	}
	if p.kind == 0 {
		return errorf(client.CodeUnauthorized, "pass a token with --token or RGRID_TOKEN", "this server needs an API token")
	}
	return nil
}

func describe(p *principal) string {
	switch p.kind {
	case asUser:
		return fmt.Sprintf("user %s's token (%s)", p.user.Name, p.user.Role)
	case asWorker:
		return "a worker token"
	}
	return "this caller"
}

// handle registers a route of class a.
func (s *Server) handle(mux *http.ServeMux, pattern string, a access, h http.HandlerFunc) {
	s.routes = append(s.routes, Route{Pattern: pattern, Access: a.String()})
	mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a != accessPublic {
			p, err := s.identify(r)
			var ae *apiError
			if a == accessConsole && errors.As(err, &ae) && ae.code == client.CodeUnauthorized {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if ae := admits(a, p); ae != nil {
				s.writeError(w, r, ae)
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
		}
		h(w, r)
	}))
}

// Routes lists the registered routes and their classes (after Handler).
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// audit records an action of the request's caller; a failure to record
// is logged, never hidden.
func (s *Server) audit(r *http.Request, action, target, detail string) {
	err := s.store.AppendAudit(r.Context(), store.AuditEntry{Time: s.opts.Now().UTC(), Actor: caller(r).actor(),
		Action: action, Target: target, Detail: detail})
	if err != nil {
		s.log.Error("audit log: could not record an action", "action", action, "target", target, "err", err)
	}
}

// scopedKey is an idempotency key as stored: the owner's, so that two
// users' keys never meet.
func scopedKey(owner, key string) string { return owner + "/" + key }

// ownerText names an owner id in the audit log.
func ownerText(owner string) string {
	if owner == "" {
		return "none"
	}
	return owner
}

// listOwner is whose jobs or batches a list shows: a user's own; for an
// admin everyone's, or the user the query's user= names.
func (s *Server) listOwner(r *http.Request) (owner string, set bool, err error) {
	p := caller(r)
	name := r.URL.Query().Get("user")
	switch {
	case !p.admin():
		if name != "" && name != p.user.Name {
			return "", false, errorf(client.CodeForbidden, "leave out user= to list your own", "only admins list another user's")
		}
		return p.owner(), true, nil
	case name == "":
		return "", false, nil
	}
	u, err := s.store.GetUserByName(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		return "", false, errorf(client.CodeNotFound, "\"rgrid admin user list\" lists the users", "no user %q", name)
	}
	return u.ID, true, err
}
