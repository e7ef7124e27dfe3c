package benchkit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// ProjectFile is one file of a data set made by MakeProject.
type ProjectFile struct {
	Path   string // absolute
	SHA256 string
	Size   int64
}

// MakeProject writes a project under dir: big files of 4 MiB under data/
// and small ones (1 to 16 KiB) under src/, random bytes from a fixed
// seed (seed), and returns them hashed with their total size. With
// 256 and 4,096 it is 1,058 MiB, the set the files benchmarks use.
func MakeProject(dir string, big, small int, seed uint64) ([]ProjectFile, int64, error) {
	rng := rand.New(rand.NewPCG(seed, 2))
	var files []ProjectFile
	var total int64
	write := func(rel string, size int) error {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		b := make([]byte, size)
		for i := 0; i < len(b); i += 8 {
			v := rng.Uint64()
			for j := 0; j < 8 && i+j < len(b); j++ {
				b[i+j] = byte(v >> (8 * j))
			}
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
		s := sha256.Sum256(b)
		files = append(files, ProjectFile{Path: p, SHA256: hex.EncodeToString(s[:]), Size: int64(size)})
		total += int64(size)
		return nil
	}
	for i := range big {
		if err := write(fmt.Sprintf("data/part-%03d.bin", i), 4<<20); err != nil {
			return nil, 0, err
		}
	}
	for i := range small {
		if err := write(fmt.Sprintf("src/m%02d/f%04d.py", i%64, i), 1<<10+rng.IntN(15<<10)); err != nil {
			return nil, 0, err
		}
	}
	return files, total, nil
}
