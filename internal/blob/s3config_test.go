package blob_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/rgrid/rgrid/internal/blob"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestParseS3URL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		env  func(string) string
		want blob.S3Config
	}{
		{
			raw: "s3://my-bucket",
			env: env(),
			want: blob.S3Config{Bucket: "my-bucket", Secure: true, Region: "us-east-1",
				CredentialsFrom: "chain", PartSize: blob.DefaultPartSize},
		},
		{
			raw: "s3://my-bucket/rgrid/blobs/?region=eu-central-1",
			env: env("AWS_ACCESS_KEY_ID", "AKID", "AWS_SECRET_ACCESS_KEY", "s3cr3t", "AWS_SESSION_TOKEN", "tok"),
			want: blob.S3Config{Bucket: "my-bucket", Prefix: "rgrid/blobs/", Secure: true, Region: "eu-central-1",
				AccessKey: "AKID", SecretKey: "s3cr3t", SessionToken: "tok", CredentialsFrom: "env", PartSize: blob.DefaultPartSize},
		},
		{
			raw: "s3://key:p%2Fss%2Bw@b1.example/p?endpoint=http://127.0.0.1:8333&path_style=true&part_size=5m",
			env: env("AWS_ACCESS_KEY_ID", "ignored", "AWS_SECRET_ACCESS_KEY", "ignored", "AWS_REGION", "ap-south-1"),
			want: blob.S3Config{Bucket: "b1.example", Prefix: "p/", Endpoint: "127.0.0.1:8333", Secure: false,
				Region: "ap-south-1", PathStyle: true, AccessKey: "key", SecretKey: "p/ss+w", CredentialsFrom: "url",
				PartSize: 5 << 20},
		},
		{
			raw: "s3://bkt?endpoint=https://s3.example.com",
			env: env("AWS_ACCESS_KEY_ID", "a", "AWS_SECRET_ACCESS_KEY", "b", "AWS_DEFAULT_REGION", "us-west-2"),
			want: blob.S3Config{Bucket: "bkt", Endpoint: "s3.example.com", Secure: true, Region: "us-west-2",
				AccessKey: "a", SecretKey: "b", CredentialsFrom: "env", PartSize: blob.DefaultPartSize},
		},
	}
	for _, tt := range tests {
		got, err := blob.ParseS3URL(tt.raw, tt.env)
		if err != nil {
			t.Errorf("ParseS3URL(%q): %v", tt.raw, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseS3URL(%q):\n got %s %+v\nwant %s", tt.raw, got, fields(got), tt.want)
		}
	}
}

// fields prints what %+v would if S3Config did not mask itself.
func fields(c blob.S3Config) string {
	return fmt.Sprintf("{bucket %q prefix %q endpoint %q secure %v region %q path %v key %q secretlen %d token %q from %q part %d}",
		c.Bucket, c.Prefix, c.Endpoint, c.Secure, c.Region, c.PathStyle, c.AccessKey, len(c.SecretKey), c.SessionToken, c.CredentialsFrom, c.PartSize)
}

const secret = "TOPSECRETvalue42"

func TestParseS3URLErrorsNameTheFixAndNotTheSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		env  func(string) string
		want string // a part of the message
	}{
		{"http://key:" + secret + "@bucket", env(), `scheme "http" is not s3`},
		{"bucket/prefix", env(), "has no scheme"},
		{"s3:key:" + secret + "@bucket", env(), "needs // after s3:"},
		{"s3://key:" + secret + "@bucket:9000/x", env(), "?endpoint=http://"},
		{"s3://key:" + secret + "/x@bucket", env(), "percent-encoded"},
		{"s3://key:" + secret + "@/prefix", env(), "names no bucket"},
		{"s3://key:" + secret + "@Bad_Bucket", env(), "not a valid bucket name"},
		{"s3://key:" + secret + "@bucket/a//b", env(), "empty, . or .. segment"},
		{"s3://key:" + secret + "@bucket/../b", env(), "empty, . or .. segment"},
		{"s3://key:" + secret + "@bucket?endpoint=ftp://x", env(), "not a URL like http://"},
		{"s3://key:" + secret + "@bucket?endpoint=http://u:" + secret + "@host:1", env(), "credentials go before the bucket"},
		{"s3://key:" + secret + "@bucket?endpoint=http://host:1/path", env(), "scheme://host[:port] only"},
		{"s3://key:" + secret + "@bucket?path_style=maybe", env(), "is not true or false"},
		{"s3://key:" + secret + "@bucket?part_size=1m", env(), "from 5m to 5g"},
		{"s3://key:" + secret + "@bucket?regoin=x", env(), `"regoin" is unknown`},
		{"s3://key:" + secret + "@bucket?region=a&region=b", env(), "given 2 times"},
		{"s3://key:" + secret + "@bucket?region=a b", env(), "not a region name"},
		{"s3://key:" + secret + "@bucket#frag", env(), "#fragment"},
		{"s3://key@bucket", env(), "ACCESS_KEY:SECRET, both given"},
		{"s3://:" + secret + "@bucket", env(), "ACCESS_KEY:SECRET, both given"},
		{"s3://bucket", env("AWS_SECRET_ACCESS_KEY", secret), "only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
		{"s3://bucket?endpoint=http://127.0.0.1:8333", env(), "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
	}
	for _, tt := range tests {
		_, err := blob.ParseS3URL(tt.raw, tt.env)
		if err == nil {
			t.Errorf("ParseS3URL(%q) succeeded", tt.raw)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseS3URL(%q): %q does not say %q", tt.raw, err, tt.want)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("ParseS3URL(%q): the error shows the secret: %q", tt.raw, err)
		}
	}
}

func TestS3ConfigNeverPrintsTheSecret(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"s3://AKID:" + secret + "@bucket/p?endpoint=http://127.0.0.1:1",
		"s3://bucket/p",
	} {
		c, err := blob.ParseS3URL(raw, env("AWS_ACCESS_KEY_ID", "AKID", "AWS_SECRET_ACCESS_KEY", secret, "AWS_SESSION_TOKEN", secret))
		if err != nil {
			t.Fatal(err)
		}
		if c.SecretKey != secret {
			t.Fatalf("%q: secret not read", raw)
		}
		var logged bytes.Buffer
		slog.New(slog.NewTextHandler(&logged, nil)).Info("store", "cfg", c)
		slog.New(slog.NewJSONHandler(&logged, nil)).Info("store", "cfg", c)
		for _, out := range []string{
			c.String(), fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s %q", c, c, c, c, c),
			fmt.Sprintf("%v", &c), fmt.Errorf("open %v", c).Error(), logged.String(),
		} {
			if strings.Contains(out, secret) {
				t.Errorf("%q: the secret shows in %q", raw, out)
			}
		}
		if !strings.Contains(logged.String(), "bucket") || !strings.Contains(c.String(), "s3://") {
			t.Errorf("%q: printed config says nothing useful: %q / %q", raw, c.String(), logged.String())
		}
	}
}

func TestS3ConfigStringParsesBack(t *testing.T) {
	t.Parallel()
	c, err := blob.ParseS3URL("s3://bucket/a/b?endpoint=http://127.0.0.1:9000&region=eu-west-1&path_style=true&part_size=32m",
		env("AWS_ACCESS_KEY_ID", "k", "AWS_SECRET_ACCESS_KEY", "s"))
	if err != nil {
		t.Fatal(err)
	}
	back, err := blob.ParseS3URL(c.String(), env("AWS_ACCESS_KEY_ID", "k", "AWS_SECRET_ACCESS_KEY", "s"))
	if err != nil {
		t.Fatalf("parse %s: %v", c, err)
	}
	if back != c {
		t.Errorf("%s parsed back as %s", c, back)
	}
}

func FuzzParseS3URL(f *testing.F) {
	for _, s := range []string{
		"s3://bucket", "s3://k:" + secret + "@bucket/p?endpoint=http://h:1", "s3://k:" + secret + "@b:1",
		"s3://k:" + secret + "%zz@bucket", "s3://k:" + secret + "@bucket?x=%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := blob.ParseS3URL(raw, env())
		if err != nil {
			if c != (blob.S3Config{}) {
				t.Errorf("ParseS3URL(%q) failed but returned a config", raw)
			}
			// The error must not depend on the password (so cannot show
			// it): the same URL with another password fails the same way.
			u, perr := url.Parse(raw)
			if perr != nil {
				// Unparsable: nothing of it may be echoed.
				if strings.Contains(raw, secret) && strings.Contains(err.Error(), secret) {
					t.Errorf("ParseS3URL(%q): the error shows the secret: %q", raw, err)
				}
				return
			}
			if u.User != nil {
				if pw, ok := u.User.Password(); ok && pw != "" {
					name := u.User.Username()
					_, e1 := blob.ParseS3URL(u.String(), env())
					u.User = url.UserPassword(name, strings.Repeat("Z", len(pw)))
					_, e2 := blob.ParseS3URL(u.String(), env())
					if fmt.Sprint(e1) != fmt.Sprint(e2) {
						t.Errorf("ParseS3URL(%q): the error depends on the password: %q vs %q", raw, e1, e2)
					}
				}
			}
			return
		}
		if c.Bucket == "" || c.Region == "" || (c.Prefix != "" && !strings.HasSuffix(c.Prefix, "/")) {
			t.Errorf("ParseS3URL(%q) = %s: incomplete", raw, c)
		}
		other := c
		other.SecretKey, other.SessionToken = "other", "other"
		if c.String() != other.String() || fmt.Sprintf("%+v", c) != fmt.Sprintf("%+v", other) {
			t.Errorf("ParseS3URL(%q): how the config prints depends on the secret", raw)
		}
	})
}
