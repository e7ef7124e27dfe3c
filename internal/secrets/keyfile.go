package secrets

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// makeHint says how to make a key file at path.
func makeHint(path string) string {
	return "make one with: (umask 077 && openssl rand -hex 32 > " + path + ")"
}

// ParseKey reads a key file's content: 32 bytes written as 64 hex digits or
// in base64 (standard or URL alphabet, padded or not), surrounding space
// ignored.
func ParseKey(text []byte) (*Key, error) {
	s := strings.TrimSpace(string(text))
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		return NewKey(b)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == KeySize {
			return NewKey(b)
		}
	}
	return nil, fmt.Errorf("not %d bytes in hex (64 digits) or base64", KeySize)
}

// LoadKeyFile reads the key in path. On unix the file must be readable by
// its owner only: a key others can read is refused, with the fix.
func LoadKeyFile(path string) (*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &KeyFileError{Path: path, Problem: "does not exist", Hint: makeHint(path)}
		}
		return nil, &KeyFileError{Path: path, Problem: err.Error(), Hint: "check the file's permissions"}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &KeyFileError{Path: path, Problem: err.Error(), Hint: "check the file"}
	}
	if !fi.Mode().IsRegular() {
		return nil, &KeyFileError{Path: path, Problem: "is not a regular file", Hint: makeHint(path)}
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, &KeyFileError{Path: path,
			Problem: fmt.Sprintf("can be read by others (mode %04o)", fi.Mode().Perm()),
			Hint:    "chmod 600 " + path}
	}
	b := make([]byte, 1024)
	n, _ := f.Read(b)
	defer clear(b)
	k, err := ParseKey(b[:n])
	if err != nil {
		return nil, &KeyFileError{Path: path, Problem: "holds no key: " + err.Error(), Hint: makeHint(path)}
	}
	return k, nil
}

// EnsureKeyFile reads the key in path, or, when there is no file there,
// makes a random key and writes it there (mode 0600, hex; the directory
// made 0700 if missing). created says it was made.
func EnsureKeyFile(path string) (k *Key, created bool, err error) {
	k, err = LoadKeyFile(path)
	var kfe *KeyFileError
	if err == nil || !errors.As(err, &kfe) || kfe.Problem != "does not exist" {
		return k, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, &KeyFileError{Path: path, Problem: err.Error(), Hint: "pass --secret-key-file a writable place"}
	}
	k, raw, err := GenerateKey()
	if err != nil {
		return nil, false, err
	}
	text := []byte(hex.EncodeToString(raw) + "\n")
	clear(raw)
	defer clear(text)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Made by another process since: use it.
		k, err = LoadKeyFile(path)
		return k, false, err
	}
	if err != nil {
		return nil, false, &KeyFileError{Path: path, Problem: err.Error(), Hint: "pass --secret-key-file a writable place"}
	}
	if _, err := f.Write(text); err != nil {
		f.Close()
		os.Remove(path)
		return nil, false, &KeyFileError{Path: path, Problem: err.Error(), Hint: "free space, or pass --secret-key-file"}
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, false, &KeyFileError{Path: path, Problem: err.Error(), Hint: "free space, or pass --secret-key-file"}
	}
	return k, true, nil
}

// KeyFileError is a key file that cannot be used, and how to fix it.
type KeyFileError struct {
	Path    string
	Problem string
	Hint    string
}

func (e *KeyFileError) Error() string { return "secret key file " + e.Path + " " + e.Problem }

// Source gives the server's key when it is first needed. Key returns nil
// and no error when the server has none (it then keeps no secrets).
type Source struct {
	load func() (*Key, error)

	mu  sync.Mutex
	key *Key
}

// Fixed is a source of k (nil: no key).
func Fixed(k *Key) *Source { return &Source{load: func() (*Key, error) { return k, nil }} }

// Lazy is a source that calls load on first need, and again after a
// failure; a key it gave is kept.
func Lazy(load func() (*Key, error)) *Source { return &Source{load: load} }

// Key returns the key, loading it if need be; nil (no error) for none.
func (s *Source) Key() (*Key, error) {
	if s == nil {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key != nil {
		return s.key, nil
	}
	k, err := s.load()
	if err != nil {
		return nil, err
	}
	s.key = k
	return k, nil
}
