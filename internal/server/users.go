package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/store"
)

// Users, tokens and the audit log.

// maxTokenLife is the longest expiry a token may be given (10 years);
// tokens without one never expire.
const maxTokenLife = 10 * 365 * 24 * time.Hour

var userName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	p := caller(r)
	out := client.Whoami{}
	switch p.kind {
	case asOpen:
		out.Kind, out.Role = "open", store.RoleAdmin
	case asLegacy:
		out.Kind, out.Role = "legacy", store.RoleAdmin
	case asUser:
		out.Kind, out.User, out.Role, out.Token = "user", p.user.Name, p.user.Role, p.token.ID
	case asWorker:
		out.Kind, out.Token, out.Pool = "worker", p.token.ID, p.token.Pool
	}
	writeJSON(w, http.StatusOK, out)
}

func userToAPI(u store.User) client.User {
	out := client.User{ID: u.ID, Name: u.Name, Role: u.Role, MaxQueued: u.MaxQueued, MaxRunning: u.MaxRunning, CreatedAt: u.CreatedAt}
	if u.BudgetMicros != nil {
		out.Budget = &client.Money{Micros: *u.BudgetMicros, Currency: u.BudgetCurrency}
	}
	return out
}

func tokenToAPI(t store.Token, userName string) client.Token {
	return client.Token{ID: t.ID, Kind: t.Kind, User: userName, Pool: t.Pool, Name: t.Name,
		CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt}
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	var req client.CreateUserRequest
	if err := decodeJSON(w, r, 1<<16, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if !userName.MatchString(req.Name) {
		s.writeError(w, r, errorf(client.CodeInvalidRequest,
			"use 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit", "user name %q is not valid", req.Name))
		return
	}
	if req.Role == "" {
		req.Role = store.RoleUser
	}
	if req.Role != store.RoleUser && req.Role != store.RoleAdmin {
		s.writeError(w, r, errorf(client.CodeInvalidRequest, "roles are user and admin", "unknown role %q", req.Role))
		return
	}
	now := s.opts.Now().UTC()
	u, err := s.store.CreateUser(r.Context(), store.User{ID: newID("usr_", now), Name: req.Name, Role: req.Role, CreatedAt: now})
	if errors.Is(err, store.ErrUserExists) {
		err = errorf(client.CodeUserExists, "pick another name, or make a token for them with an admin's help",
			"user %q exists", req.Name)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.audit(r, "user.create", u.Name, "role "+u.Role)
	tok, err := s.mintFor(r, store.TokenUser, u, "", "first token", 0)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, client.CreateUserResponse{User: userToAPI(u), Token: tok})
}

// mintFor makes and stores a token for user u (a worker token of pool
// when kind is worker), audited.
func (s *Server) mintFor(r *http.Request, kind string, u store.User, pool, name string, life time.Duration) (client.NewToken, error) {
	now := s.opts.Now().UTC()
	secret, t := MintToken(kind, now)
	t.UserID, t.Pool, t.Name = u.ID, pool, name
	if p := caller(r); p.kind == asUser {
		t.CreatedBy = p.user.ID
	}
	if life > 0 {
		exp := now.Add(life)
		t.ExpiresAt = &exp
	}
	if err := s.store.CreateToken(r.Context(), t); err != nil {
		return client.NewToken{}, err
	}
	s.auth.closed.Store(true)
	action, detail := "token.create", "for user "+u.Name
	if kind == store.TokenWorker {
		action, detail = "worker_token.create", "pool "+strconv.Quote(pool)
	}
	if name != "" {
		detail += ", named " + strconv.Quote(name)
	}
	s.audit(r, action, t.ID, detail)
	return client.NewToken{Token: tokenToAPI(t, u.Name), Secret: secret}, nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	us, err := s.store.ListUsers(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]client.User, 0, len(us))
	for _, u := range us {
		out = append(out, userToAPI(u))
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
}

func (s *Server) setUserLimits(w http.ResponseWriter, r *http.Request) {
	var req client.UserLimitsRequest
	if err := decodeJSON(w, r, 1<<16, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, v := range []*int{req.MaxQueued, req.MaxRunning} {
		if v != nil && *v < 0 {
			s.writeError(w, r, errorf(client.CodeInvalidRequest, "use 0 for no limit, or leave it out for the server's default",
				"a limit of %d", *v))
			return
		}
	}
	s.updateUser(w, r, "user.limits", func(ctx context.Context, id string) (store.User, error) {
		return s.store.SetUserLimits(ctx, id, req.MaxQueued, req.MaxRunning)
	}, func(u store.User) string {
		return fmt.Sprintf("max queued %s, max running %s", limitText(u.MaxQueued), limitText(u.MaxRunning))
	})
}

// updateUser changes the user named in the path with set, forgets the
// cached limits, audits action with detail and answers with the user.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, action string,
	set func(ctx context.Context, id string) (store.User, error), detail func(store.User) string) {
	name := r.PathValue("name")
	u, err := s.store.GetUserByName(r.Context(), name)
	if err == nil {
		u, err = set(r.Context(), u.ID)
	}
	if errors.Is(err, store.ErrNotFound) {
		err = errorf(client.CodeNotFound, "\"rgrid admin user list\" lists the users", "no user %q", name)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.limits.forget()
	s.audit(r, action, u.Name, detail(u))
	writeJSON(w, http.StatusOK, userToAPI(u))
}

func limitText(v *int) string {
	switch {
	case v == nil:
		return "the server's default"
	case *v == 0:
		return "none"
	}
	return strconv.Itoa(*v)
}

// tokenLife reads a token request's expiry.
func tokenLife(req client.CreateTokenRequest) (time.Duration, error) {
	if req.ExpiresInSeconds < 0 || time.Duration(req.ExpiresInSeconds)*time.Second > maxTokenLife {
		return 0, errorf(client.CodeInvalidRequest, "give an expiry from 1 second to 10 years, or none",
			"expires_in_seconds %d is out of range", req.ExpiresInSeconds)
	}
	if len(req.Name) > 100 || len(req.Pool) > 100 {
		return 0, errorf(client.CodeInvalidRequest, "use at most 100 bytes", "the token's name or pool is too long")
	}
	return time.Duration(req.ExpiresInSeconds) * time.Second, nil
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var req client.CreateTokenRequest
	if err := decodeJSON(w, r, 1<<16, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	life, err := tokenLife(req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p := caller(r)
	if p.kind != asUser {
		s.writeError(w, r, errorf(client.CodeInvalidRequest,
			"log in with a user's token first; on a new grid, \"rgrid admin bootstrap\" on the server machine makes the first admin",
			"tokens are made for users, and this call has no user (the server's shared token, or an open server)"))
		return
	}
	tok, err := s.mintFor(r, store.TokenUser, p.user, "", req.Name, life)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, tok)
}

func (s *Server) createWorkerToken(w http.ResponseWriter, r *http.Request) {
	var req client.CreateTokenRequest
	if err := decodeJSON(w, r, 1<<16, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	life, err := tokenLife(req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	tok, err := s.mintFor(r, store.TokenWorker, store.User{}, req.Pool, req.Name, life)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, tok)
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	p := caller(r)
	all := r.URL.Query().Get("all") == "true"
	if all && !p.admin() {
		s.writeError(w, r, errorf(client.CodeForbidden, "leave out --all to list your own", "only admins list every token"))
		return
	}
	var owner string
	switch {
	case all:
	case p.kind == asUser:
		owner = p.user.ID
	default:
		writeJSON(w, http.StatusOK, map[string]any{"tokens": []client.Token{}})
		return
	}
	ts, err := s.store.ListTokens(r.Context(), owner)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	names, err := s.userNames(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]client.Token, 0, len(ts))
	for _, t := range ts {
		out = append(out, tokenToAPI(t, names[t.UserID]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

func (s *Server) userNames(r *http.Request) (map[string]string, error) {
	us, err := s.store.ListUsers(r.Context())
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(us))
	for _, u := range us {
		names[u.ID] = u.Name
	}
	return names, nil
}

// revokeToken revokes one of the caller's tokens, or any for an admin;
// another user's token answers not found.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	p := caller(r)
	id := r.PathValue("prefix")
	// An admin revokes any token; a user one of their own, found among
	// theirs; anyone else (the shared token is an admin) has none.
	scope := ""
	if !p.admin() {
		scope = p.owner()
	}
	ts, err := s.store.ListTokens(r.Context(), scope)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !slices.ContainsFunc(ts, func(t store.Token) bool { return t.ID == id }) || scope == "" && !p.admin() {
		s.writeError(w, r, errorf(client.CodeNotFound, "\"rgrid token list\" shows your tokens by prefix", "no token %s", id))
		return
	}
	t, err := s.store.RevokeToken(r.Context(), id, s.opts.Now().UTC())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.forget(id)
	s.audit(r, "token.revoke", id, "")
	names, _ := s.userNames(r)
	writeJSON(w, http.StatusOK, tokenToAPI(t, names[t.UserID]))
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := store.ListAuditParams{Limit: 100}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.writeError(w, r, errorf(client.CodeInvalidRequest, "use a number from 1 to 1000", "limit %q is not valid", v))
			return
		}
		p.Limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			s.writeError(w, r, errorf(client.CodeInvalidRequest, "pass the \"next\" value of the previous page", "before %q is not valid", v))
			return
		}
		p.BeforeID = n
	}
	es, err := s.store.ListAudit(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := client.AuditPage{Entries: make([]client.AuditEntry, 0, len(es))}
	for _, e := range es {
		out.Entries = append(out.Entries, client.AuditEntry{ID: e.ID, Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Target, Detail: e.Detail})
	}
	if len(es) == p.Limit {
		out.Next = strconv.FormatInt(es[len(es)-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, out)
}
