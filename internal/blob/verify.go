package blob

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
)

// verifier passes size bytes of r through while hashing them, and fails
// the read that would complete them when they are not the blob: wrong
// hash, fewer than size bytes, or more. Failing that read, rather than a
// later one, matters: writers that read exactly size bytes (io.ReadFull,
// minio-go's part buffers) never ask for more, and drop an error that
// comes with a full buffer. So the read that reaches size returns no
// bytes and the error, and what the writer holds is never complete.
type verifier struct {
	r    io.Reader
	h    hash.Hash
	want string
	size int64
	n    int64
	err  error // sticky: the outcome once known (io.EOF when all is well)
}

func newVerifier(r io.Reader, hash string, size int64) *verifier {
	return &verifier{r: r, h: sha256.New(), want: hash, size: size}
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.n == v.size {
		// Nothing was read yet (size 0) or the last read was given back
		// whole: settle now.
		v.err = v.finish()
		return 0, v.err
	}
	if rem := v.size - v.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	switch {
	case v.n == v.size:
		if ferr := v.finish(); ferr != io.EOF {
			v.err = ferr
			return 0, ferr
		}
		v.err = io.EOF
		return n, nil
	case err == io.EOF:
		v.err = ErrSizeMismatch
		return 0, v.err
	case err != nil:
		v.err = err
		return n, err
	}
	return n, nil
}

// finish checks, once size bytes are in, that the source has no more and
// that the hash is right; io.EOF means the blob is good.
func (v *verifier) finish() error {
	var one [1]byte
	for tries := 0; ; tries++ {
		n, err := v.r.Read(one[:])
		if n > 0 {
			return ErrSizeMismatch
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if tries == 100 {
			return io.ErrNoProgress
		}
	}
	if hex.EncodeToString(v.h.Sum(nil)) != v.want {
		return ErrHashMismatch
	}
	return io.EOF
}

// ok reports whether all size bytes were read and verified.
func (v *verifier) ok() bool { return v.err == io.EOF }

// failure is the verification error, if verification failed (nil while
// unsettled or when the blob is good).
func (v *verifier) failure() error {
	if v.err == nil || v.err == io.EOF {
		return nil
	}
	return v.err
}
