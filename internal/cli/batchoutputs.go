package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/bytesize"
)

// A batch's outputs: each item's in its own folder under one directory,
// named after its input (itemFolders), written as a single job's are.

// isBatchID tells a batch's id from a job's.
func isBatchID(id string) bool { return strings.HasPrefix(id, "bat_") }

// batchFolders maps each item's id to its outputs folder.
func batchFolders(items []client.Job) map[string]string {
	inputs := make([]string, len(items))
	for i, j := range items {
		inputs[i] = j.BatchInput
		if inputs[i] == "" {
			inputs[i] = fmt.Sprint(j.BatchIndex)
		}
	}
	names := itemFolders(inputs)
	out := make(map[string]string, len(items))
	for i, j := range items {
		out[j.ID] = names[i]
	}
	return out
}

// fetchBatchOutputs writes the outputs of the batch's ended items (those
// matching patterns, all when none) into dest/FOLDER/, a few items at a
// time. It returns what was written and the first error.
func fetchBatchOutputs(ctx context.Context, c *client.Client, items []client.Job, dest string, patterns []string) (downloaded, int, error) {
	folders := batchFolders(items)
	var (
		mu       sync.Mutex
		total    downloaded
		withAny  int
		firstErr error
		wg       sync.WaitGroup
	)
	work := make(chan client.Job)
	for range min(4, len(items)) {
		wg.Go(func() {
			for j := range work {
				d, err := fetchOutputs(ctx, c, j.ID, filepath.Join(dest, folders[j.ID]), nil, patterns)
				mu.Lock()
				total.files = append(total.files, d.files...)
				total.beside = append(total.beside, d.beside...)
				total.bytes += d.bytes
				total.same += d.same
				total.skipped += d.skipped
				if len(d.files) > 0 || d.same > 0 {
					withAny++
				}
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("item %s (%s): %w", itemName(j), j.ID, err)
				}
				mu.Unlock()
			}
		})
	}
	for _, j := range items {
		if j.State.Terminal() && j.State != client.StateCanceled {
			work <- j
		}
	}
	close(work)
	wg.Wait()
	return total, withAny, firstErr
}

// writeBatchOutputs downloads every ended item's outputs under dest and
// says so in one line.
func writeBatchOutputs(ctx context.Context, c *client.Client, id string, items []client.Job, dest string, stderr io.Writer) {
	d, n, err := fetchBatchOutputs(ctx, c, items, dest, nil)
	if line := d.batchSummary(id, n, dest); line != "" {
		fmt.Fprintln(stderr, line)
	}
	if err != nil {
		printError(stderr, &Error{Message: "the batch's outputs could not all be written: " + err.Error(),
			Hint: fmt.Sprintf("fetch them again with: rgrid outputs %s -o %s", id, dest)})
	}
}

// batchSummary is the one line about a batch's outputs.
func (d downloaded) batchSummary(id string, items int, dest string) string {
	if len(d.files) == 0 && d.skipped == 0 && d.same == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "rgrid: outputs of %d %s in %s: %d %s, %s written", items, plural(items, "item", "items"),
		filepath.Clean(dest)+string(filepath.Separator), len(d.files), plural(len(d.files), "file", "files"), bytesize.Format(d.bytes))
	if d.same > 0 {
		fmt.Fprintf(&b, ", %d already there", d.same)
	}
	if len(d.beside) > 0 {
		fmt.Fprintf(&b, "; %d beside a local file that changed (%s)", len(d.beside), d.beside[0])
	}
	if d.skipped > 0 {
		fmt.Fprintf(&b, "; %d left out (rgrid outputs %s says why)", d.skipped, id)
	}
	return b.String()
}

// listBatchOutputs lists every item's outputs under its folder's name.
func listBatchOutputs(ctx context.Context, c *client.Client, id string, patterns []string, w io.Writer) error {
	items, err := allItems(ctx, c, id)
	if err != nil {
		return err
	}
	folders := batchFolders(items)
	for i, j := range items {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s/ (item %s, %s, %s):\n", folders[j.ID], itemName(j), j.ID, j.State)
		if err := listOutputs(ctx, c, j.ID, patterns, false, w); err != nil {
			return err
		}
	}
	return nil
}

// batchOutputs is rgrid outputs BATCH: list every item's outputs, or
// download them into dir, one folder per item.
func batchOutputs(ctx context.Context, c *client.Client, id, dir string, patterns []string, asJSON bool, stdout, stderr io.Writer) error {
	if dir == "" {
		if asJSON {
			return userErr("download them with -o DIR, or list one item's with: rgrid outputs ITEM --json",
				"--json lists one job's outputs, not a batch's")
		}
		return listBatchOutputs(ctx, c, id, patterns, stdout)
	}
	items, err := allItems(ctx, c, id)
	if err != nil {
		return err
	}
	d, n, err := fetchBatchOutputs(ctx, c, items, dir, patterns)
	if line := d.batchSummary(id, n, dir); line != "" {
		fmt.Fprintln(stderr, line)
	} else if err == nil {
		fmt.Fprintf(stderr, "rgrid: batch %s has no outputs%s\n", id, map[bool]string{true: " matching the patterns", false: ""}[len(patterns) > 0])
	}
	return err
}
