package worker

import "net/url"

// redactedURL is a server address fit for a log line: a password written
// into it (https://user:secret@host) is replaced by "xxxxx".
func redactedURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
