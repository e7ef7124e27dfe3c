package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rgrid/rgrid/client"
)

// Console sessions. The console's login form takes a user token and
// answers with a session cookie instead of keeping the token in the
// browser: the cookie carries the token's SHA-256 (never its secret) and
// an expiry, signed with the server's session key. Every request with the
// cookie checks the token again, so revoking the token ends its sessions.
// A request that changes something (any method but GET and HEAD) made
// with the cookie must also carry the session's CSRF token in the
// X-RGrid-CSRF header; the cookie is SameSite=Strict besides.
//
// The session key is Options.SessionKey, or else the one stored in the
// database under "console_session" (made by the first server that needed
// it): sessions then survive a restart and work on every replica of one
// database. Who can read the database can forge a session for a token
// whose hash they also read there, no more than they could already see.

const (
	sessionCookie  = "rgrid_session"
	csrfHeader     = "X-RGrid-CSRF"
	sessionTTL     = 12 * time.Hour
	sessionKeyName = "console_session"
)

// sessionKey is the key sessions are signed with.
func (s *Server) sessionKey(ctx context.Context) ([]byte, error) {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	if s.sessKey != nil {
		return s.sessKey, nil
	}
	if len(s.opts.SessionKey) > 0 {
		s.sessKey = s.opts.SessionKey
		return s.sessKey, nil
	}
	fresh := make([]byte, 32)
	_, _ = rand.Read(fresh)
	k, err := s.store.ServerKey(ctx, sessionKeyName, fresh, s.opts.Now())
	if err != nil {
		return nil, fmt.Errorf("console session key: %w", err)
	}
	if len(k) < 32 {
		return nil, fmt.Errorf("console session key: the stored key has %d bytes, want 32", len(k))
	}
	s.sessKey = k
	return k, nil
}

func sign(key []byte, parts ...string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// newSession makes the cookie value of a session for the token whose
// SHA-256 is hash.
func (s *Server) newSession(ctx context.Context, hash []byte, now time.Time) (string, error) {
	key, err := s.sessionKey(ctx)
	if err != nil {
		return "", err
	}
	h, exp := hex.EncodeToString(hash), strconv.FormatInt(now.Add(sessionTTL).Unix(), 10)
	return h + "." + exp + "." + sign(key, "session", h, exp), nil
}

// csrfToken is the CSRF token of a session's cookie value.
func (s *Server) csrfToken(ctx context.Context, session string) (string, error) {
	key, err := s.sessionKey(ctx)
	if err != nil {
		return "", err
	}
	return sign(key, "csrf", session), nil
}

var errSession = errorf(client.CodeUnauthorized, "log in again on the console's login page", "the console session is not valid or has expired")

// sessionPrincipal checks a session cookie (and, for a request that
// changes something, its CSRF token).
func (s *Server) sessionPrincipal(r *http.Request, v string) (*principal, error) {
	key, err := s.sessionKey(r.Context())
	if err != nil {
		return nil, err
	}
	parts := strings.Split(v, ".")
	if len(parts) != 3 || !hmac.Equal([]byte(parts[2]), []byte(sign(key, "session", parts[0], parts[1]))) {
		return nil, errSession
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	hash, herr := hex.DecodeString(parts[0])
	if err != nil || herr != nil || len(hash) != sha256.Size || !s.opts.Now().Before(time.Unix(exp, 0)) {
		return nil, errSession
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if got := r.Header.Get(csrfHeader); !hmac.Equal([]byte(got), []byte(sign(key, "csrf", v))) {
			return nil, errorf(client.CodeForbidden, "reload the console page and try again",
				"a console request that changes something needs the session's %s header", csrfHeader)
		}
	}
	p, err := s.hashPrincipal(r.Context(), [32]byte(hash), "of this session")
	if err == nil && p.kind != asUser {
		return nil, errSession
	}
	return p, err
}

// setSession sets the session cookie (an empty value ends it).
func setSession(w http.ResponseWriter, r *http.Request, v string) {
	c := &http.Cookie{Name: sessionCookie, Value: v, Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL / time.Second)}
	if v == "" {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// csrfMatches says whether the request carries the CSRF token of the
// session v.
func (s *Server) csrfMatches(r *http.Request, v string) bool {
	want, err := s.csrfToken(r.Context(), v)
	return err == nil && hmac.Equal([]byte(r.Header.Get(csrfHeader)), []byte(want))
}
