//go:build !unix

package diskquota

// Hold does nothing: without quotas there are no mounts to guard.
func Hold(string) (release func(), err error) { return func() {}, nil }

// TryHold never succeeds, so that no sweep removes a directory it cannot
// tell is in use.
func TryHold(string) (release func(), ok bool) { return nil, false }
