//go:build !linux

package docker

// watchWrites: the tail polls alone where there is no inotify.
func watchWrites(...string) (<-chan struct{}, func()) { return nil, func() {} }
