//go:build !unix

package docker

import (
	"errors"
	"os"
)

// The init path needs a Unix host next to the engine; elsewhere (a
// Windows client on Docker Desktop) the executor never takes it
// (initpath.go finds no static Linux init), and these only fail.

const oNoFollow = 0

var errNoFIFOs = errors.New("FIFOs need a Unix host")

func mkfifo(string) error { return errNoFIFOs }

func openFIFOWriter(string) (*os.File, error) { return nil, errNoFIFOs }
