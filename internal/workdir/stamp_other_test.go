//go:build !linux && !darwin

package workdir

const stampsHaveCtime = false
