// Command blobput measures how fast a directory's files go into a blob
// store (internal/blob), the step of `rgrid run` that sends a project:
//
//   - local: every file Put into a new local store (hash checked while
//     writing, fsync, rename), one after another; anchor `cp -r` of the
//     same files into a new directory (no fsync), and a Go loop that
//     copies and fsyncs each file (what the durability costs).
//   - S3: every file Put into SeaweedFS on loopback through the S3 store
//     (hash checked on the client, x-amz-checksum-sha256 checked by the
//     server), 8 at a time; anchor `aws s3 cp --recursive` of the same
//     directory when the aws CLI is installed (10 at a time, its default),
//     and in any case a plain minio-go PutObject loop, 8 at a time, without
//     the store's hashing or checksum header.
//
// The files: 256 of 4 MiB and 4,096 small ones (1 to 16 KiB), 1.03 GiB,
// made once per invocation; their hashes are computed before timing (a
// client has them already: it asks the server which are missing first).
// Each run measures every figure once, interleaved, into a fresh store,
// directory or prefix, removed after. Figures are MiB/s of file content.
//
// The S3 server is RGRID_TEST_S3_URL when set; else the program starts one
// with scripts/s3.sh (from the repository root, as scripts/bench.sh runs
// it) and stops it at the end. Only loopback is reached.
//
//	go run ./bench/blobput [-n 5]
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"golang.org/x/sync/errgroup"

	"github.com/rgrid/rgrid/bench/internal/benchkit"
	"github.com/rgrid/rgrid/internal/blob"
)

var (
	figLocal = benchkit.Figure{Name: "blob.put.local", Unit: "MiB/s", Anchor: "blob.cp.local",
		Desc: "files Put into the local store one by one (hash checked, fsync, rename): 256 x 4 MiB + 4096 small"}
	figCp = benchkit.Figure{Name: "blob.cp.local", Unit: "MiB/s",
		Desc: "cp -r of the same files into a new directory (no fsync)"}
	figFsync = benchkit.Figure{Name: "blob.write.local.fsync", Unit: "MiB/s",
		Desc: "the same files copied one by one by a Go loop that fsyncs each, no hashing nor rename: what fsync alone costs"}
	figS3 = benchkit.Figure{Name: "blob.put.s3", Unit: "MiB/s", Anchor: "blob.put.s3.minio", Target: ">=0.7x",
		Desc: "files Put into the S3 store on SeaweedFS (loopback), 8 at a time; hash checked by the client and the server"}
	figMinio = benchkit.Figure{Name: "blob.put.s3.minio", Unit: "MiB/s",
		Desc: "plain minio-go PutObject loop of the same files, 8 at a time, no hashing nor checksum header"}
	figAws = benchkit.Figure{Name: "blob.put.s3.awscli", Unit: "MiB/s",
		Desc: "aws s3 cp --recursive of the same directory (10 at a time, its default)"}
)

// s3Parallel is how many files the S3 loops send at once.
const s3Parallel = 8

type file = benchkit.ProjectFile

func main() {
	n := flag.Int("n", benchkit.Runs(5), "runs of each figure")
	big := flag.Int("big", benchkit.Pick(256, 32), "files of 4 MiB")
	small := flag.Int("small", benchkit.Pick(4096, 512), "small files (1 to 16 KiB)")
	flag.Parse()
	if benchkit.Quick() { // fewer files: not the same figures
		for _, f := range []*benchkit.Figure{&figLocal, &figCp, &figFsync, &figS3, &figMinio, &figAws} {
			f.Name += ".quick"
			if f.Anchor != "" {
				f.Anchor += ".quick"
			}
		}
	}
	benchkit.Main("blobput", 20*time.Minute, func(ctx context.Context) error {
		return run(ctx, *n, *big, *small)
	})
}

func run(ctx context.Context, n, big, small int) error {
	work, err := os.MkdirTemp("", "rgrid-bench-blobput-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	src := filepath.Join(work, "src")
	files, total, err := benchkit.MakeProject(src, big, small, 1)
	if err != nil {
		return err
	}
	fmt.Printf("%d files, %.1f MiB, in %s\n", len(files), mib(total), src)

	raw, stop, err := benchkit.S3Server(ctx)
	if err != nil {
		return err
	}
	defer stop()
	cfg, err := blob.ParseS3URL(raw, os.Getenv)
	if err != nil {
		return err
	}
	base := cfg.Prefix + fmt.Sprintf("bench-blobput-%d/", time.Now().UnixNano())
	mc, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""), Secure: cfg.Secure, Region: cfg.Region,
	})
	if err != nil {
		return err
	}
	aws, _ := exec.LookPath("aws")
	if aws == "" {
		figAws.NotMeasured("the aws CLI is not installed; blob.put.s3 is anchored to the minio-go loop")
	} else {
		figS3.Anchor = figAws.Name
		figS3.Target = ">=1x"
	}

	for i := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		fmt.Printf("run %d of %d\n", i+1, n)

		d, err := benchkit.Timed(func() error { return putLocal(ctx, filepath.Join(work, "store"), files) })
		os.RemoveAll(filepath.Join(work, "store"))
		if err != nil {
			return fmt.Errorf("local put: %w", err)
		}
		figLocal.Report(mib(total) / d.Seconds())

		d, err = benchkit.Timed(func() error {
			return exec.CommandContext(ctx, "cp", "-r", src, filepath.Join(work, "cp")).Run()
		})
		os.RemoveAll(filepath.Join(work, "cp"))
		if err != nil {
			return fmt.Errorf("cp -r: %w", err)
		}
		figCp.Report(mib(total) / d.Seconds())

		d, err = benchkit.Timed(func() error { return writeSynced(ctx, filepath.Join(work, "fsync"), files) })
		os.RemoveAll(filepath.Join(work, "fsync"))
		if err != nil {
			return fmt.Errorf("fsync loop: %w", err)
		}
		figFsync.Report(mib(total) / d.Seconds())

		runCfg := cfg
		runCfg.Prefix = fmt.Sprintf("%srun%d/store/", base, i)
		d, err = benchkit.Timed(func() error { return putS3(ctx, runCfg, files) })
		if err != nil {
			return fmt.Errorf("S3 put: %w", err)
		}
		figS3.Report(mib(total) / d.Seconds())

		prefix := fmt.Sprintf("%srun%d/minio/", base, i)
		d, err = benchkit.Timed(func() error { return putMinio(ctx, mc, cfg.Bucket, prefix, files) })
		if err != nil {
			return fmt.Errorf("minio-go loop: %w", err)
		}
		figMinio.Report(mib(total) / d.Seconds())

		if aws != "" {
			prefix := fmt.Sprintf("%srun%d/aws/", base, i)
			d, err = benchkit.Timed(func() error { return benchkit.AWSCopy(ctx, aws, cfg, src, prefix) })
			if err != nil {
				return fmt.Errorf("aws s3 cp: %w", err)
			}
			figAws.Report(mib(total) / d.Seconds())
		}
		if err := removePrefix(ctx, mc, cfg.Bucket, fmt.Sprintf("%srun%d/", base, i)); err != nil {
			return err
		}
	}
	return nil
}

func putLocal(ctx context.Context, root string, files []file) error {
	s, err := blob.OpenLocal(root)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := putFile(ctx, s, f); err != nil {
			return err
		}
	}
	return nil
}

// writeSynced copies each file into dir and fsyncs it: the local store's
// writes without its hashing, temporary name and rename.
func writeSynced(ctx context.Context, dir string, files []file) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for i, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := copySynced(f.Path, filepath.Join(dir, fmt.Sprint(i))); err != nil {
			return err
		}
	}
	return nil
}

func copySynced(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	if _, err := out.ReadFrom(bufio.NewReaderSize(in, 256<<10)); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	return out.Close()
}

func putFile(ctx context.Context, s blob.Store, f file) error {
	fh, err := os.Open(f.Path)
	if err != nil {
		return err
	}
	defer fh.Close()
	// Hide *os.File's ReaderAt from minio-go, as a network body would.
	return s.Put(ctx, f.SHA256, f.Size, bufio.NewReaderSize(fh, 64<<10))
}

func putS3(ctx context.Context, cfg blob.S3Config, files []file) error {
	s, err := blob.OpenS3(ctx, cfg)
	if err != nil {
		return err
	}
	return each(ctx, files, func(ctx context.Context, f file) error { return putFile(ctx, s, f) })
}

func putMinio(ctx context.Context, c *minio.Client, bucket, prefix string, files []file) error {
	return each(ctx, files, func(ctx context.Context, f file) error {
		fh, err := os.Open(f.Path)
		if err != nil {
			return err
		}
		defer fh.Close()
		_, err = c.PutObject(ctx, bucket, prefix+f.SHA256[:2]+"/"+f.SHA256, bufio.NewReaderSize(fh, 64<<10), f.Size,
			minio.PutObjectOptions{ContentType: "application/octet-stream"})
		return err
	})
}

func each(ctx context.Context, files []file, fn func(context.Context, file) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(s3Parallel)
	for _, f := range files {
		g.Go(func() error { return fn(ctx, f) })
	}
	return g.Wait()
}

func removePrefix(ctx context.Context, c *minio.Client, bucket, prefix string) error {
	objs := c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true})
	for e := range c.RemoveObjects(ctx, bucket, objs, minio.RemoveObjectsOptions{}) {
		if e.Err != nil {
			return fmt.Errorf("remove %s: %w", e.ObjectName, e.Err)
		}
	}
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
