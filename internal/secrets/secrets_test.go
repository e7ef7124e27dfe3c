package secrets_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/rgrid/rgrid/internal/secrets"
)

func key(t *testing.T) *secrets.Key {
	t.Helper()
	k, _, err := secrets.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	k := key(t)
	env := map[string]string{"B": "two-Secret-Value", "A": "", "C": "ünï\ncode"}
	b, err := k.Seal("job_1", env)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("two-Secret-Value")) {
		t.Fatalf("sealed form holds the value in clear: %s", b)
	}
	if got := secrets.Names(b); !slices.Equal(got, []string{"A", "B", "C"}) {
		t.Errorf("names %v", got)
	}
	got, err := k.Open("job_1", b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["B"] != env["B"] || got["C"] != env["C"] || got["A"] != "" {
		t.Errorf("opened %v", got)
	}
	again, _ := k.Seal("job_1", env)
	if bytes.Equal(again, b) {
		t.Error("two seals of the same values are equal: the nonce is not fresh")
	}
	if b, err := k.Seal("job_1", nil); b != nil || err != nil {
		t.Errorf("sealing nothing: %q %v", b, err)
	}
	if m, err := k.Open("job_1", nil); m != nil || err != nil {
		t.Errorf("opening nothing: %v %v", m, err)
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	k, other := key(t), key(t)
	b, err := k.Seal("job_1", map[string]string{"A": "x"})
	if err != nil {
		t.Fatal(err)
	}
	// Another key: the message names both keys.
	_, err = other.Open("job_1", b)
	var me *secrets.MismatchError
	if !errors.As(err, &me) || !errors.Is(err, secrets.ErrKeyMismatch) || me.SealedWith != k.ID() || me.Tried != other.ID() ||
		!strings.Contains(err.Error(), k.ID()) || !strings.Contains(err.Error(), other.ID()) {
		t.Errorf("other key: %v", err)
	}
	// Moved to another job.
	if _, err := k.Open("job_2", b); !errors.Is(err, secrets.ErrKeyMismatch) || !strings.Contains(err.Error(), "another job") {
		t.Errorf("other job: %v", err)
	}
	// Names changed beside the ciphertext.
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	s["names"] = []string{"B"}
	tampered, _ := json.Marshal(s)
	if _, err := k.Open("job_1", tampered); !errors.Is(err, secrets.ErrKeyMismatch) {
		t.Errorf("tampered names: %v", err)
	}
	if _, err := k.Open("job_1", []byte("not json")); err == nil || errors.Is(err, secrets.ErrKeyMismatch) {
		t.Errorf("garbage: %v", err)
	}
	if secrets.Names([]byte("not json")) != nil {
		t.Error("names of garbage")
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte{0xab, 0x01}, 16)
	want, _ := secrets.NewKey(raw)
	for _, text := range []string{
		hex.EncodeToString(raw) + "\n", "  " + strings.ToUpper(hex.EncodeToString(raw)),
		base64.StdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw) + "\r\n",
	} {
		k, err := secrets.ParseKey([]byte(text))
		if err != nil || k.ID() != want.ID() {
			t.Errorf("%q: %v", text, err)
		}
	}
	for _, text := range []string{"", "abcd", hex.EncodeToString(raw[:16]), base64.StdEncoding.EncodeToString(append(raw, 1))} {
		if _, err := secrets.ParseKey([]byte(text)); err == nil {
			t.Errorf("%q: accepted", text)
		}
	}
}

func TestKeyFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "secret.key")
	_, err := secrets.LoadKeyFile(path)
	var kfe *secrets.KeyFileError
	if !errors.As(err, &kfe) || !strings.Contains(kfe.Hint, "openssl rand -hex 32 > "+path) {
		t.Errorf("missing file: %v", err)
	}
	k, created, err := secrets.EnsureKeyFile(path)
	if err != nil || !created {
		t.Fatalf("ensure: %v %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("made with mode %o, want 600", fi.Mode().Perm())
	}
	again, created, err := secrets.EnsureKeyFile(path)
	if err != nil || created || again.ID() != k.ID() {
		t.Errorf("second ensure: %v %v, same key %v", created, err, again != nil && again.ID() == k.ID())
	}
	loaded, err := secrets.LoadKeyFile(path)
	if err != nil || loaded.ID() != k.ID() {
		t.Errorf("load: %v", err)
	}
	if runtime.GOOS == "windows" {
		return
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	_, err = secrets.LoadKeyFile(path)
	if !errors.As(err, &kfe) || kfe.Hint != "chmod 600 "+path || !strings.Contains(err.Error(), "read by others") {
		t.Errorf("group-readable file: %v (hint %q)", err, kfe.Hint)
	}
	if _, _, err := secrets.EnsureKeyFile(path); err == nil {
		t.Error("ensure accepted a group-readable file")
	}
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.LoadKeyFile(bad); !errors.As(err, &kfe) || !strings.Contains(err.Error(), "holds no key") {
		t.Errorf("bad content: %v", err)
	}
}

func TestSources(t *testing.T) {
	t.Parallel()
	var none *secrets.Source
	if k, err := none.Key(); k != nil || err != nil {
		t.Errorf("nil source: %v %v", k, err)
	}
	calls := 0
	fail := true
	want := key(t)
	s := secrets.Lazy(func() (*secrets.Key, error) {
		calls++
		if fail {
			return nil, errors.New("not yet")
		}
		return want, nil
	})
	if _, err := s.Key(); err == nil {
		t.Fatal("no error from a failing load")
	}
	fail = false
	for range 2 {
		if k, err := s.Key(); err != nil || k != want {
			t.Fatalf("key: %v", err)
		}
	}
	if calls != 2 {
		t.Errorf("load called %d times, want 2 (once failing, once giving the key it keeps)", calls)
	}
}
