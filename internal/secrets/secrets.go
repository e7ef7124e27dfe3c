// Package secrets seals jobs' secret environment values for storage: the
// server encrypts them with a key of its own (AES-256-GCM) before they
// reach the database, and opens them only to hand them to the worker that
// leases the job. A sealed value is bound to the job it belongs to, so a
// ciphertext copied onto another job's row does not open there.
//
// The key lives in a file of 32 random bytes, hex or base64, that only its
// owner may read (KeyFile, EnsureKeyFile).
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// KeySize is the length of a key in bytes (AES-256).
const KeySize = 32

// Key seals and opens secret environments. Its bytes never leave it: ID
// names it in messages.
type Key struct {
	aead cipher.AEAD
	id   string
}

// NewKey makes a Key of 32 bytes.
func NewKey(b []byte) (*Key, error) {
	if len(b) != KeySize {
		return nil, fmt.Errorf("a secret key is %d bytes, not %d", KeySize, len(b))
	}
	block, err := aes.NewCipher(b)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte("rgrid secret key id\x00"), b...))
	return &Key{aead: aead, id: hex.EncodeToString(sum[:4])}, nil
}

// GenerateKey makes a random key and returns it with its bytes (to write
// to a key file).
func GenerateKey() (*Key, []byte, error) {
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		return nil, nil, err
	}
	k, err := NewKey(b)
	return k, b, err
}

// ID is a short public fingerprint of the key (8 hex digits, from a hash of
// it), by which a message says which key sealed a value without showing
// the key.
func (k *Key) ID() string { return k.id }

// sealed is the stored form: the names in clear (the API shows them), the
// id of the key that sealed the values, and the values encrypted.
type sealed struct {
	Version int      `json:"v"`
	Names   []string `json:"names"`
	KeyID   string   `json:"key"`
	Nonce   []byte   `json:"nonce"`
	Data    []byte   `json:"data"`
}

const version = 1

// additional binds a ciphertext to its owner (a job's id) and to the names
// shown beside it.
func additional(owner string, names []string) []byte {
	return []byte("rgrid secret env v1\x00" + owner + "\x00" + strings.Join(names, "\x00"))
}

// Seal encrypts env for owner (the job's id) with a fresh random nonce.
// An empty env seals to nil.
func (k *Key) Seal(owner string, env map[string]string) ([]byte, error) {
	if len(env) == 0 {
		return nil, nil
	}
	plain, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	s := sealed{Version: version, Names: slices.Sorted(maps.Keys(env)), KeyID: k.id,
		Nonce: make([]byte, k.aead.NonceSize())}
	if _, err := rand.Read(s.Nonce); err != nil {
		return nil, err
	}
	s.Data = k.aead.Seal(nil, s.Nonce, plain, additional(owner, s.Names))
	clear(plain)
	return json.Marshal(s)
}

// ErrKeyMismatch: the value was sealed with another key, or for another
// owner, or was altered. A *MismatchError says which keys.
var ErrKeyMismatch = errors.New("secret values do not open with this server's key")

// MismatchError is ErrKeyMismatch with the ids of the key that sealed the
// value and of the key that tried to open it.
type MismatchError struct {
	SealedWith, Tried string
}

func (e *MismatchError) Error() string {
	if e.SealedWith != e.Tried {
		return fmt.Sprintf("the secret values were sealed with key %s, but this server's key is %s", e.SealedWith, e.Tried)
	}
	return fmt.Sprintf("the secret values do not open with key %s (they were altered or moved from another job)", e.Tried)
}

// Is makes errors.Is(err, ErrKeyMismatch) hold.
func (e *MismatchError) Is(target error) bool { return target == ErrKeyMismatch }

// Open decrypts what Seal made for owner. A value sealed with another key,
// for another owner, or altered gives a *MismatchError; nil opens to nil.
func (k *Key) Open(owner string, b []byte) (map[string]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	s, err := parse(b)
	if err != nil {
		return nil, err
	}
	if len(s.Nonce) != k.aead.NonceSize() {
		return nil, errors.New("stored secret values are malformed: bad nonce")
	}
	plain, err := k.aead.Open(nil, s.Nonce, s.Data, additional(owner, s.Names))
	if err != nil {
		return nil, &MismatchError{SealedWith: s.KeyID, Tried: k.id}
	}
	defer clear(plain)
	var env map[string]string
	if err := json.Unmarshal(plain, &env); err != nil {
		return nil, errors.New("stored secret values are malformed")
	}
	return env, nil
}

func parse(b []byte) (sealed, error) {
	var s sealed
	if err := json.Unmarshal(b, &s); err != nil {
		return sealed{}, errors.New("stored secret values are malformed")
	}
	if s.Version != version {
		return sealed{}, fmt.Errorf("stored secret values are of version %d; this rgrid reads version %d", s.Version, version)
	}
	return s, nil
}

// Names are the variables' names in what Seal made, sorted; nil for nil or
// for a value that is not a sealed environment.
func Names(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	s, err := parse(b)
	if err != nil {
		return nil
	}
	return s.Names
}
