package workdir

import (
	"crypto/sha256"
	"encoding/hex"
)

// Key names m's content: the SHA-256 (hex) of its JSON encoding, with a
// version that a change to how files are staged from a manifest must
// bump. Two jobs with one key stage the same tree.
func (m Manifest) Key() string {
	b, err := m.MarshalJSON() // json.Marshal(m)'s bytes, without compacting them again
	if err != nil {
		panic("workdir: encode manifest: " + err.Error()) // plain data: cannot fail
	}
	h := sha256.Sum256(append([]byte("rgrid-inputs-v1\n"), b...))
	return hex.EncodeToString(h[:])
}
