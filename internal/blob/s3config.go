package blob

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/rgrid/rgrid/internal/bytesize"
)

// S3Config says where an S3 store keeps its blobs and how to reach it. It
// is read from a URL-like setting by ParseS3URL:
//
//	s3://bucket/prefix                       AWS; region and credentials from the environment
//	s3://bucket/prefix?region=eu-central-1
//	s3://bucket?endpoint=http://127.0.0.1:8333&region=us-east-1    SeaweedFS, MinIO, …
//	s3://ACCESS_KEY:SECRET@bucket/prefix?endpoint=https://s3.example.com
//
// Credentials come from the URL's user info (percent-encoded), else from
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), else,
// on AWS, from the shared credentials file or the instance's IAM role.
// String and LogValue never show the secret.
type S3Config struct {
	Bucket string
	// Prefix is prepended to every key; empty or ending in "/".
	Prefix string
	// Endpoint is host[:port] of the S3 server; empty means AWS.
	Endpoint string
	// Secure: HTTPS (true unless the endpoint URL says http).
	Secure bool
	Region string
	// PathStyle forces path-style requests (endpoint/bucket/key). By
	// default AWS gets virtual-host style and every other endpoint path
	// style, which is what S3-compatible servers expect.
	PathStyle bool
	// AccessKey and SecretKey (and SessionToken) are static credentials;
	// both empty means the AWS chain (shared file, IAM role).
	AccessKey    string
	SecretKey    string
	SessionToken string
	// CredentialsFrom says where the credentials came from: "url", "env"
	// or "chain". For messages.
	CredentialsFrom string
	// PartSize is the size of the parts of a multipart upload, and the
	// size above which Put uses one (below it, a single PUT).
	PartSize int64
}

// Limits of S3Config.PartSize: S3's smallest part, and MaxSize.
const (
	DefaultPartSize int64 = 16 << 20
	MinPartSize     int64 = 5 << 20
)

const s3URLForm = "s3://[ACCESS_KEY:SECRET@]bucket[/prefix][?endpoint=http://host:port&region=…&path_style=true&part_size=16m]"

// ParseS3URL reads an S3 store's setting. getenv is os.Getenv (a
// parameter so tests need not touch the process environment). Errors name
// the fix and never contain the secret.
func ParseS3URL(raw string, getenv func(string) string) (S3Config, error) {
	bad := func(format string, args ...any) (S3Config, error) {
		return S3Config{}, fmt.Errorf("blob store URL: "+format+"; the form is "+s3URLForm, args...)
	}
	// url.Parse's own errors quote the whole input, secret included:
	// never pass them on.
	u, err := url.Parse(raw)
	if err != nil {
		return bad("cannot be parsed (a secret with / + or @ must be percent-encoded, or set AWS_SECRET_ACCESS_KEY instead)")
	}
	if u.Scheme != "s3" {
		if u.Scheme == "" {
			return bad("has no scheme")
		}
		return bad("scheme %q is not s3", u.Scheme)
	}
	if u.Opaque != "" {
		return bad("needs // after s3:")
	}
	if u.Port() != "" {
		return bad("the host part is the bucket and takes no port; give the server as ?endpoint=http://%s", u.Host)
	}
	c := S3Config{Bucket: u.Hostname(), Secure: true, PartSize: DefaultPartSize}
	if c.Bucket == "" {
		return bad("names no bucket")
	}
	if err := s3utils.CheckValidBucketNameStrict(c.Bucket); err != nil {
		return bad("bucket %q is not a valid bucket name (3 to 63 lowercase letters, digits, dots and hyphens)", c.Bucket)
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		for _, seg := range strings.Split(p, "/") {
			if seg == "" || seg == "." || seg == ".." {
				return bad("prefix %q has an empty, . or .. segment", p)
			}
		}
		c.Prefix = p + "/"
	}
	if u.Fragment != "" {
		return bad("has a #fragment (a secret with # must be percent-encoded)")
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("its query cannot be parsed")
	}
	// In order, so that the same URL always gets the same error.
	for _, k := range slices.Sorted(maps.Keys(q)) {
		vs := q[k]
		if len(vs) != 1 {
			return bad("parameter %s is given %d times", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "endpoint":
			if err := c.setEndpoint(v); err != nil {
				return bad("%v", err)
			}
		case "region":
			if v == "" || strings.ContainsAny(v, " /") {
				return bad("region %q is not a region name (like us-east-1)", v)
			}
			c.Region = v
		case "path_style":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return bad("path_style=%q is not true or false", v)
			}
			c.PathStyle = b
		case "part_size":
			n, err := bytesize.Parse(v)
			if err != nil || n < MinPartSize || n > MaxSize {
				return bad("part_size=%q is not a size from 5m to 5g", v)
			}
			c.PartSize = n
		default:
			return bad("parameter %q is unknown (known: endpoint, region, path_style, part_size)", k)
		}
	}
	if c.Region == "" {
		c.Region = firstEnv(getenv, "AWS_REGION", "AWS_DEFAULT_REGION")
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}

	if u.User != nil {
		secret, ok := u.User.Password()
		if u.User.Username() == "" || !ok || secret == "" {
			return bad("its user info must be ACCESS_KEY:SECRET, both given")
		}
		c.AccessKey, c.SecretKey, c.CredentialsFrom = u.User.Username(), secret, "url"
	} else {
		id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
		switch {
		case id != "" && secret != "":
			c.AccessKey, c.SecretKey, c.CredentialsFrom = id, secret, "env"
			c.SessionToken = getenv("AWS_SESSION_TOKEN")
		case id != "" || secret != "":
			return S3Config{}, errors.New("blob store: only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set; set both (or neither, on AWS with an IAM role)")
		case c.Endpoint != "":
			return S3Config{}, fmt.Errorf("blob store: no credentials for the S3 server at %s; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give them in the URL as s3://ACCESS_KEY:SECRET@%s", c.Endpoint, c.Bucket)
		default:
			c.CredentialsFrom = "chain"
		}
	}
	return c, nil
}

func (c *S3Config) setEndpoint(v string) error {
	e, err := url.Parse(v)
	if err != nil || e.Host == "" || (e.Scheme != "http" && e.Scheme != "https") {
		return fmt.Errorf("endpoint %q is not a URL like http://127.0.0.1:8333 or https://s3.example.com", v)
	}
	if e.User != nil || (e.Path != "" && e.Path != "/") || e.RawQuery != "" {
		return fmt.Errorf("endpoint %q must be scheme://host[:port] only (credentials go before the bucket: s3://ACCESS_KEY:SECRET@bucket)", e.Redacted())
	}
	c.Endpoint, c.Secure = e.Host, e.Scheme == "https"
	return nil
}

func firstEnv(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// String is the setting with the secret masked, as it may be logged.
func (c S3Config) String() string {
	u := url.URL{Scheme: "s3", Host: c.Bucket, Path: "/" + c.Prefix}
	if c.CredentialsFrom == "url" {
		u.User = url.UserPassword(c.AccessKey, "xxxxx")
	}
	q := url.Values{}
	if c.Endpoint != "" {
		scheme := "https"
		if !c.Secure {
			scheme = "http"
		}
		q.Set("endpoint", scheme+"://"+c.Endpoint)
	}
	q.Set("region", c.Region)
	if c.PathStyle {
		q.Set("path_style", "true")
	}
	if c.PartSize != DefaultPartSize && c.PartSize != 0 {
		q.Set("part_size", bytesize.Compact(c.PartSize))
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// LogValue keeps the secret out of slog output.
func (c S3Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("bucket", c.Bucket),
		slog.String("prefix", c.Prefix),
		slog.String("endpoint", c.Endpoint),
		slog.String("region", c.Region),
		slog.String("credentials", c.CredentialsFrom),
	)
}

// Format keeps the secret out of every fmt verb (%v, %+v and %#v would
// print the fields).
func (c S3Config) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", c.String())
		return
	}
	fmt.Fprint(f, c.String())
}
