// Package workdir decides what of a directory is sent as a job's working
// directory and describes it, and stages and collects working directories
// on a worker. It does no networking: blobs come in and go out through
// functions the caller hands in.
//
// A Manifest (path, kind, size, executable bit, SHA-256, link target)
// describes a job's inputs and its outputs alike; Validate checks one that
// came from the network. Scan walks a directory on the user's machine
// without following symlinks, applies .gitignore, .rgridignore and the
// built-in exclusions, refuses it over the caps before reading a file, and
// hashes what is left; WritePlan prints the result for --dry-run. On the
// worker, Stage writes a manifest's files into an empty directory and
// Collect finds what the job created or changed in it. Every path is
// opened through an os.Root, so no symlink the user or the job made can
// take a read or a write outside the directory.
package workdir
