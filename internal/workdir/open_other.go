//go:build !unix

package workdir

import "os"

// openFlags: Windows has no FIFOs in the file system to block on.
const openFlags = os.O_RDONLY
