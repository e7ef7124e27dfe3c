package server

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestKindStatus(t *testing.T) {
	t.Parallel()
	want := map[kind]int{
		kindValidation:   http.StatusBadRequest,
		kindUnauthorized: http.StatusUnauthorized,
		kindNotFound:     http.StatusNotFound,
		kindConflict:     http.StatusConflict,
		kindLimit:        http.StatusUnprocessableEntity,
		kindExecution:    http.StatusBadGateway,
		kindPlatform:     http.StatusInternalServerError,
	}
	for k := kindValidation; k <= kindPlatform; k++ {
		w, ok := want[k]
		if !ok {
			t.Errorf("kind %d has no expected status in this test", k)
			continue
		}
		if got := k.status(); got != w {
			t.Errorf("kind %d: status %d, want %d", k, got, w)
		}
	}
}

// clientCodes reads the Code* constants of package client from its
// source, so that a code added there cannot be missed here.
func clientCodes(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../../client/client.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Code") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("%s is not a string literal", name.Name)
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out[name.Name] = v
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("found no Code* constants in client/client.go")
	}
	return out
}

// Every stable code has a kind, a status of its kind's class, and a row in
// the README's table with that status.
func TestEveryCodeHasKindAndIsDocumented(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	wantStatus := map[string]int{
		"invalid_json": 400, "invalid_request": 400, "unknown_runtime": 400, "invalid_requirements": 400,
		"unauthorized": 401, "forbidden": 403, "quota_exceeded": 429, "budget_exceeded": 402, "user_exists": 409, "not_found": 404, "method_not_allowed": 405,
		"stale_attempt": 409, "job_finished": 409, "worker_id_in_use": 409, "idempotency_key_reused": 409, "too_large": 413, "limit_exceeded": 422, "secret_key_missing": 422,
		"internal": 500, "unavailable": 503,
		"invalid_manifest": 400, "blob_missing": 400, "blob_mismatch": 400, "blob_store_error": 502, "manifest_unknown": 400,
	}
	consts := clientCodes(t)
	if len(consts) != len(codes) {
		t.Errorf("client has %d codes, the server's table %d", len(consts), len(codes))
	}
	for name, code := range consts {
		spec, ok := codes[code]
		if !ok {
			t.Errorf("client.%s (%q) is not in the server's table of codes", name, code)
			continue
		}
		status := statusOf(code)
		if status/100 != spec.kind.status()/100 {
			t.Errorf("%s: status %d is not of its kind's class (%d)", code, status, spec.kind.status())
		}
		if w, ok := wantStatus[code]; !ok || status != w {
			t.Errorf("%s: status %d, want %d (a code's status is part of the API: change it knowingly)", code, status, w)
		}
		row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(code) + "` \\| " + strconv.Itoa(status) + " \\| \\S")
		if !row.Match(readme) {
			t.Errorf("README.md has no row \"| `%s` | %d | meaning |\"", code, status)
		}
	}
}

func TestUnknownCodeIsAnInternalError(t *testing.T) {
	t.Parallel()
	if got := statusOf("no_such_code"); got != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", got)
	}
}
