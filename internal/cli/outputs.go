package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/bytesize"
	"github.com/rgrid/rgrid/internal/workdir"
)

// Outputs come back as a local run would have left them: written into the
// directory rgrid ran from, but never over a local file that changed since
// it was sent (that one gets the download beside it, name.rgrid-JOBID).
// Every path is checked as the server checks it, and written through an
// os.Root, so a manifest from a server cannot reach outside the directory.

// downloaded is what fetchOutputs did.
type downloaded struct {
	files   []string // written
	bytes   int64
	beside  []string // written as name.rgrid-JOBID beside a changed local file
	same    int      // already there with the same content
	skipped int      // what the worker left out
}

// fetchOutputs writes the outputs of job id matching patterns (all when
// none) into dest. sent is what the job's working directory was sent
// as (nil: the script alone): a local file still as it was sent is the
// job's to replace.
func fetchOutputs(ctx context.Context, c *client.Client, id, dest string, sent *client.Manifest, patterns []string) (downloaded, error) {
	var d downloaded
	out, err := c.JobOutputs(ctx, id)
	if err != nil || out.Outputs == nil {
		return d, err
	}
	d.skipped = len(out.Skipped)
	m, err := checkManifest(out.Outputs)
	if err != nil {
		return d, fmt.Errorf("the outputs of job %s: %w", id, err)
	}
	inputs := map[string]string{}
	if sent != nil {
		for _, e := range sent.Entries {
			inputs[e.Path] = e.SHA256
		}
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return d, userErr("pass --outputs a writable directory", "%v", err)
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return d, userErr("pass --outputs a writable directory", "%v", err)
	}
	defer root.Close() //nolint:errcheck // read and written through; nothing to flush
	for _, e := range m.Entries {
		if !matches(e.Path, patterns) {
			continue
		}
		name := path.Clean(e.Path)
		if dir := path.Dir(name); dir != "." {
			if err := root.MkdirAll(dir, 0o755); err != nil {
				return d, fmt.Errorf("write %s: %w", name, err)
			}
		}
		switch e.Kind {
		case workdir.KindDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return d, fmt.Errorf("write %s: %w", name, err)
			}
			continue
		case workdir.KindSymlink:
			if _, err := root.Lstat(name); err == nil {
				continue // something is there: a link is not worth replacing it
			}
			if err := root.Symlink(e.Target, name); err != nil {
				return d, fmt.Errorf("write %s: %w", name, err)
			}
			d.files = append(d.files, name)
			continue
		}
		target := name
		switch local, err := localHash(root, name); {
		case errors.Is(err, fs.ErrNotExist):
		case err == nil && local == e.SHA256:
			d.same++
			continue
		case err == nil && inputs[name] == local:
			// As it was sent: the job changed it, as it would have locally.
		default:
			target = name + ".rgrid-" + id
			d.beside = append(d.beside, target)
		}
		if err := download(ctx, c, root, target, e); err != nil {
			return d, fmt.Errorf("download %s: %w", name, err)
		}
		d.files = append(d.files, target)
		d.bytes += e.Size
	}
	return d, nil
}

// checkManifest holds a manifest from the network to the rules the server
// holds it to.
func checkManifest(m *client.Manifest) (workdir.Manifest, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return workdir.Manifest{}, err
	}
	return workdir.ParseManifest(b)
}

func matches(p string, patterns []string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, pat := range patterns {
		pat = strings.TrimSuffix(pat, "/")
		if ok, _ := path.Match(pat, p); ok || strings.HasPrefix(p, pat+"/") {
			return true
		}
	}
	return false
}

// localHash is the SHA-256 of the regular file name under root; a link or
// anything else there is "changed" (an error that is not ErrNotExist).
func localHash(root *os.Root, name string) (string, error) {
	fi, err := root.Lstat(name)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", name)
	}
	f, err := root.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// download writes e's blob to name under root: into name.part first,
// resumed from what is there after a cut connection, checked against its
// hash, then renamed into place (which replaces a link, never writes
// through one).
func download(ctx context.Context, c *client.Client, root *os.Root, name string, e workdir.Entry) error {
	part := name + ".rgrid-part"
	f, err := root.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	have, err := io.Copy(h, f) // a download cut earlier, resumed
	if err != nil {
		return err
	}
	if have > e.Size {
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		h.Reset()
		have = 0
	}
	for try := 0; have < e.Size; try++ {
		if try > 0 && !sleepCtx(ctx, backoffFor(try)) {
			return ctx.Err()
		}
		if try > 5 {
			return fmt.Errorf("gave up after %d tries", try)
		}
		rc, _, err := c.OpenBlob(ctx, e.SHA256, have)
		if err != nil {
			var apiErr *client.Error
			if errors.As(err, &apiErr) && apiErr.Status/100 == 4 {
				return err
			}
			continue
		}
		n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(rc, e.Size-have))
		rc.Close()
		have += n
		if err == nil && have == e.Size {
			break
		}
	}
	if hex.EncodeToString(h.Sum(nil)) != e.SHA256 {
		_ = root.Remove(part)
		return fmt.Errorf("the bytes received do not match the output's sha256 %s", e.SHA256)
	}
	mode := os.FileMode(0o644)
	if e.Executable {
		mode = 0o755
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return root.Rename(part, name)
}

// summary is the one line rgrid run prints after writing outputs.
func (d downloaded) summary(id string) string {
	if len(d.files) == 0 && d.skipped == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "rgrid: %d %s, %s written", len(d.files), plural(len(d.files), "file", "files"), bytesize.Format(d.bytes))
	if len(d.files) > 0 {
		b.WriteString(": ")
		const shown = 3
		b.WriteString(strings.Join(d.files[:min(shown, len(d.files))], ", "))
		if len(d.files) > shown {
			b.WriteString(", …")
		}
	}
	if len(d.beside) > 0 {
		fmt.Fprintf(&b, "; %d beside a local file that changed since it was sent (%s)", len(d.beside), d.beside[0])
	}
	if d.skipped > 0 {
		fmt.Fprintf(&b, "; %d left out (rgrid outputs %s says why)", d.skipped, id)
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func newOutputsCmd(e *env) *cobra.Command {
	var dir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "outputs JOB|BATCH [PATTERN...]",
		Short: "List a job's or a batch's output files, or download them with -o",
		Long: `List the files a job left in its working directory, and what was left out
and why. With -o DIR, download them into DIR (those matching the patterns,
if any: a glob such as "out/*.json", or a folder such as "out"), checked
against their hashes; a cut download resumes. A local file that changed
since the job's inputs were sent is not overwritten: the download goes
beside it, as NAME.rgrid-JOB.

For a batch, every item's outputs are listed, or downloaded into one folder
per item under DIR: DIR/a.csv/… for the item of data/a.csv (data_a.csv/
when two inputs share a base name), DIR/7/… for array index 7.`,
		Example: `  rgrid outputs job_06h3…                 # list
  rgrid outputs job_06h3… -o results     # download all into ./results
  rgrid outputs job_06h3… -o . 'out/*.csv'
  rgrid outputs bat_06h3… -o rgrid-outputs/bat_06h3…`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withSession(cmd.Context(), func(s *session) error {
				id, patterns := args[0], args[1:]
				for _, p := range patterns {
					if _, err := path.Match(p, ""); err != nil {
						return userErr(`write a glob such as "out/*.json" or a folder such as "out"`, "pattern %q: %v", p, err)
					}
				}
				if isBatchID(id) {
					return batchOutputs(cmd.Context(), s.c, id, dir, patterns, asJSON, e.stdout, e.stderr)
				}
				if dir == "" {
					return listOutputs(cmd.Context(), s.c, id, patterns, asJSON, e.stdout)
				}
				sent, err := s.c.JobInputs(cmd.Context(), id)
				if err != nil {
					return err
				}
				d, err := fetchOutputs(cmd.Context(), s.c, id, dir, sent, patterns)
				if line := d.summary(id); line != "" {
					fmt.Fprintln(e.stderr, line)
				} else if err == nil {
					fmt.Fprintf(e.stderr, "rgrid: job %s has no outputs%s\n", id, map[bool]string{true: " matching the patterns", false: ""}[len(patterns) > 0])
				}
				return err
			})
		},
	}
	cmd.Flags().StringVarP(&dir, "output-dir", "o", "", "download into this directory (default: only list)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "list as JSON: {outputs, skipped}")
	addClientFlags(cmd)
	return cmd
}

func listOutputs(ctx context.Context, c *client.Client, id string, patterns []string, asJSON bool, w io.Writer) error {
	out, err := c.JobOutputs(ctx, id)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if out.Outputs == nil {
		fmt.Fprintf(w, "job %s has no outputs (yet: they are recorded when it ends)\n", id)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tSIZE\tKIND")
	for _, e := range out.Outputs.Entries {
		if !matches(e.Path, patterns) {
			continue
		}
		size, kind := bytesize.Format(e.Size), e.Kind
		if e.Kind == string(workdir.KindSymlink) {
			size, kind = "-", "symlink → "+e.Target
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", quoteName(e.Path), size, kind)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(out.Skipped) > 0 {
		fmt.Fprintf(w, "\nleft out:\n")
		for _, s := range out.Skipped {
			fmt.Fprintf(w, "  %s: %s\n", quoteName(s.Path), s.Reason)
		}
	}
	return nil
}

// quoteName shows a path a job chose as text that cannot take the
// terminal over: quoted when it holds anything but printable characters.
func quoteName(p string) string {
	for _, r := range p {
		if !unicode.IsPrint(r) {
			return strconv.Quote(p)
		}
	}
	return p
}
