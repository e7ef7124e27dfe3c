package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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
// The session key is Options.SessionKey, or one made at random when the
// server starts: then sessions end when it restarts, and replicas behind
// one address must share a key for a session to work on all of them.

const (
	sessionCookie = "rgrid_session"
	csrfHeader    = "X-RGrid-CSRF"
	sessionTTL    = 12 * time.Hour
)

// sessionKey is the key sessions are signed with.
func (s *Server) sessionKey() []byte {
	s.sessOnce.Do(func() {
		s.sessKey = s.opts.SessionKey
		if len(s.sessKey) == 0 {
			s.sessKey = make([]byte, 32)
			_, _ = rand.Read(s.sessKey)
		}
	})
	return s.sessKey
}

func (s *Server) sign(parts ...string) string {
	m := hmac.New(sha256.New, s.sessionKey())
	m.Write([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// newSession makes the cookie value of a session for the token whose
// SHA-256 is hash.
func (s *Server) newSession(hash []byte, now time.Time) string {
	h, exp := hex.EncodeToString(hash), strconv.FormatInt(now.Add(sessionTTL).Unix(), 10)
	return h + "." + exp + "." + s.sign("session", h, exp)
}

// csrfToken is the CSRF token of a session's cookie value.
func (s *Server) csrfToken(session string) string { return s.sign("csrf", session) }

var errSession = errorf(client.CodeUnauthorized, "log in again on the console's login page", "the console session is not valid or has expired")

// sessionPrincipal checks a session cookie (and, for a request that
// changes something, its CSRF token).
func (s *Server) sessionPrincipal(r *http.Request, v string) (*principal, error) {
	parts := strings.Split(v, ".")
	if len(parts) != 3 || !hmac.Equal([]byte(parts[2]), []byte(s.sign("session", parts[0], parts[1]))) {
		return nil, errSession
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	hash, herr := hex.DecodeString(parts[0])
	if err != nil || herr != nil || len(hash) != sha256.Size || !s.opts.Now().Before(time.Unix(exp, 0)) {
		return nil, errSession
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if got := r.Header.Get(csrfHeader); !hmac.Equal([]byte(got), []byte(s.csrfToken(v))) {
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
