package blob

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func hashOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// readExactly reads size bytes the way minio-go fills its part buffers
// (never asking for more, ignoring an error that comes with a full
// buffer) and returns the error it would act on.
func readExactly(r io.Reader, size int) error {
	buf := make([]byte, size)
	n := 0
	var err error
	for n < size && err == nil {
		var nn int
		nn, err = r.Read(buf[n:])
		n += nn
	}
	if n == size {
		return nil
	}
	return err
}

func TestVerifierFailsTheReadThatCompletesTheBlob(t *testing.T) {
	t.Parallel()
	data := []byte("the content of a blob")
	wrong := bytes.Clone(data)
	wrong[len(wrong)-1] ^= 1
	longer := append(bytes.Clone(data), '!')
	tests := []struct {
		name string
		src  []byte
		want error
	}{
		{"right", data, nil},
		{"last byte wrong", wrong, ErrHashMismatch},
		{"one byte more", longer, ErrSizeMismatch},
		{"one byte short", data[:len(data)-1], ErrSizeMismatch},
	}
	for _, tt := range tests {
		for _, wrap := range []struct {
			name string
			f    func(io.Reader) io.Reader
		}{
			{"whole", func(r io.Reader) io.Reader { return r }},
			{"byte by byte", iotest.OneByteReader},
			{"data with EOF", iotest.DataErrReader},
			{"half reads", iotest.HalfReader},
		} {
			v := newVerifier(wrap.f(bytes.NewReader(tt.src)), hashOf(data), int64(len(data)))
			// A consumer that stops at size bytes must still see the error.
			err := readExactly(v, len(data))
			if !errors.Is(err, tt.want) && (tt.want != nil || err != nil) {
				t.Errorf("%s, %s: reading exactly the size: got %v, want %v", tt.name, wrap.name, err, tt.want)
			}
			v = newVerifier(wrap.f(bytes.NewReader(tt.src)), hashOf(data), int64(len(data)))
			got, err := io.ReadAll(v)
			if tt.want == nil {
				if err != nil || !bytes.Equal(got, data) || !v.ok() {
					t.Errorf("%s, %s: ReadAll: %v, %d bytes, ok %v", tt.name, wrap.name, err, len(got), v.ok())
				}
			} else if !errors.Is(err, tt.want) || v.ok() || !errors.Is(v.failure(), tt.want) {
				t.Errorf("%s, %s: ReadAll: got %v (ok %v), want %v", tt.name, wrap.name, err, v.ok(), tt.want)
			}
		}
	}
}

func TestVerifierEmptyBlob(t *testing.T) {
	t.Parallel()
	v := newVerifier(bytes.NewReader(nil), hashOf(nil), 0)
	if _, err := v.Read(nil); err != io.EOF || !v.ok() {
		t.Errorf("empty blob: got %v, ok %v", err, v.ok())
	}
	v = newVerifier(bytes.NewReader([]byte{0}), hashOf(nil), 0)
	if _, err := v.Read(make([]byte, 8)); !errors.Is(err, ErrSizeMismatch) {
		t.Errorf("one byte as the empty blob: got %v, want ErrSizeMismatch", err)
	}
	v = newVerifier(bytes.NewReader(nil), hashOf([]byte("x")), 0)
	if _, err := v.Read(nil); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("empty content under another name: got %v, want ErrHashMismatch", err)
	}
}

func TestVerifierPassesSourceErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	v := newVerifier(iotest.ErrReader(boom), hashOf([]byte("x")), 1)
	if _, err := io.ReadAll(v); !errors.Is(err, boom) || v.ok() {
		t.Errorf("got %v, ok %v; want the source's error", err, v.ok())
	}
}

func TestValidHash(t *testing.T) {
	t.Parallel()
	h := hashOf([]byte("x"))
	for _, good := range []string{h, hashOf(nil)} {
		if !ValidHash(good) {
			t.Errorf("ValidHash(%q) = false", good)
		}
	}
	for _, bad := range []string{"", h[:63], h + "a", "A" + h[1:], "g" + h[1:], "/" + h[1:], "." + h[1:]} {
		if ValidHash(bad) {
			t.Errorf("ValidHash(%q) = true", bad)
		}
	}
}
