package benchkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/rgrid/rgrid/internal/blob"
)

// AWSCopy runs `aws s3 cp --recursive` of src to prefix in cfg's bucket,
// with cfg's credentials and no aws configuration of the machine's.
func AWSCopy(ctx context.Context, aws string, cfg blob.S3Config, src, prefix string) error {
	scheme := "https"
	if !cfg.Secure {
		scheme = "http"
	}
	cmd := exec.CommandContext(ctx, aws, "s3", "cp", "--recursive", "--quiet",
		"--endpoint-url", scheme+"://"+cfg.Endpoint, src, "s3://"+cfg.Bucket+"/"+prefix)
	none := filepath.Join(os.TempDir(), "rgrid-bench-no-aws-config")
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+cfg.AccessKey, "AWS_SECRET_ACCESS_KEY="+cfg.SecretKey,
		"AWS_DEFAULT_REGION="+cfg.Region, "AWS_CONFIG_FILE="+none, "AWS_SHARED_CREDENTIALS_FILE="+none)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// S3Server returns the S3 server's setting and how to stop it: the one in
// RGRID_TEST_S3_URL, or one started with scripts/s3.sh.
func S3Server(ctx context.Context) (string, func(), error) {
	if raw := os.Getenv("RGRID_TEST_S3_URL"); raw != "" {
		return raw, func() {}, nil
	}
	fmt.Println("starting SeaweedFS with scripts/s3.sh (its first build takes about 11 minutes)")
	cmd := exec.CommandContext(ctx, "bash", "scripts/s3.sh", "start")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", nil, fmt.Errorf("scripts/s3.sh start: %w", err)
	}
	// The last line: export S3_PID=… S3_TMPDIR=… S3_GRPC_PORTS='…' RGRID_TEST_S3_URL='…'
	env, raw := []string{}, ""
	line := strings.TrimPrefix(strings.TrimSpace(lastLine(string(out))), "export ")
	for line != "" {
		k, rest, ok := strings.Cut(line, "=")
		if !ok {
			break
		}
		var v string
		if strings.HasPrefix(rest, "'") {
			v, rest, _ = strings.Cut(rest[1:], "'")
		} else {
			v, rest, _ = strings.Cut(rest, " ")
		}
		line = strings.TrimSpace(rest)
		env = append(env, k+"="+v)
		if k == "RGRID_TEST_S3_URL" {
			raw = v
		}
	}
	stop := func() {
		c := exec.Command("bash", "scripts/s3.sh", "stop")
		c.Env = append(os.Environ(), env...)
		c.Stderr = os.Stderr
		_ = c.Run()
	}
	if _, err := url.Parse(raw); raw == "" || err != nil {
		stop()
		return "", nil, errors.New("scripts/s3.sh start printed no RGRID_TEST_S3_URL")
	}
	return raw, stop, nil
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
