package worker

import (
	"net/url"
	"strings"
)

// redactedURL is a server address, or a comma-separated list of them, fit
// for a log line: a password written into one (https://user:secret@host)
// is replaced by "xxxxx".
func redactedURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			parts[i] = "(unparsable URL)"
			continue
		}
		parts[i] = u.Redacted()
	}
	return strings.Join(parts, ",")
}
