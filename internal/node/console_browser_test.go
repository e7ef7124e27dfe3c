package node

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/testbrowser"
)

// TestConsoleInBrowser drives the console of an embedded grid (open mode:
// no login; the login is tested in internal/server) with a process
// worker in real Chromium: a job's lines appear live on its page and it is
// canceled from there, a failed job shows its summary, the jobs list pages
// through, and a job's output cannot inject script or links.
func TestConsoleInBrowser(t *testing.T) {
	hostOnly(t)
	ctx := testbrowser.Start(t, 2*time.Minute)
	g, err := StartEmbedded(t.Context(), EmbeddedConfig{DataDir: t.TempDir(), Runtimes: table(t),
		Worker: &EmbeddedWorker{Executor: "process", Defaults: Limits{Timeout: time.Minute}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	c := g.Client()
	base := c.BaseURL()
	submit := func(script string) client.Job {
		t.Helper()
		j, err := c.Submit(t.Context(), client.SubmitRequest{Script: []byte(script), FileName: "job.sh"})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		testbrowser.Run(t, ctx, what, actions...)
	}

	// Injection: markup, an OSC 8 javascript: link and colours.
	evil := submit(`printf '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">\n'
printf '\033]8;;javascript:window.pwned=3\033\\click me\033]8;;\033\\\n'
printf '\033[31mred text\033[0m plain\n'
`)
	waitEnded(t, c, evil.ID)
	var pwned, anchors, scripts, red, text string
	run("the injection job's page",
		chromedp.Navigate(base+"/jobs/"+evil.ID),
		chromedp.WaitVisible(`#log[data-ended="true"]`),
		chromedp.Evaluate(`String(window.pwned)`, &pwned),
		chromedp.Evaluate(`String(document.querySelectorAll("#log a").length)`, &anchors),
		chromedp.Evaluate(`String(document.querySelectorAll("#log script, #log img").length)`, &scripts),
		chromedp.Text(`#log .ansi-31`, &red),
		chromedp.Text(`#log`, &text),
	)
	if pwned != "undefined" || anchors != "0" || scripts != "0" {
		t.Errorf("job output injected into the page: window.pwned=%s, %s links, %s script/img elements", pwned, anchors, scripts)
	}
	if red != "red text" || !strings.Contains(text, "<script>window.pwned=1</script>") || !strings.Contains(text, "click me") {
		t.Errorf("the output is not shown as text: red %q, log %q", red, text)
	}

	// Live lines, then cancel from the page.
	slow := submit("echo started-line\nsleep 60\n")
	run("the running job's page",
		chromedp.Navigate(base+"/jobs/"+slow.ID),
		chromedp.WaitVisible(`//pre[@id="log"]/div[contains(., "started-line")]`),
		chromedp.Click(`#cancel`),
		chromedp.WaitVisible(`//span[@id="state" and text()="canceled"]`),
	)
	if j := waitEnded(t, c, slow.ID); j.State != client.StateCanceled {
		t.Errorf("canceled from the page, the job ended %s", j.State)
	}

	// A failed job's summary.
	bad := submit("echo oops >&2\nexit 3\n")
	waitEnded(t, c, bad.ID)
	var summary string
	run("the failed job's page",
		chromedp.Navigate(base+"/jobs/"+bad.ID),
		chromedp.WaitVisible(`#summary`),
		chromedp.Text(`#summary`, &summary),
		chromedp.WaitVisible(`//pre[@id="log"]/div[contains(@class,"stderr") and contains(., "oops")]`),
	)
	if !strings.Contains(summary, "3") {
		t.Errorf("the failure summary %q does not give the exit code", summary)
	}

	// Paging: 60 more jobs, 50 a page.
	reqs := make([]client.SubmitRequest, 60)
	for i := range reqs {
		reqs[i] = client.SubmitRequest{Script: []byte("true\n"), FileName: fmt.Sprintf("p%02d.sh", i)}
	}
	if _, err := c.SubmitBatch(t.Context(), reqs); err != nil {
		t.Fatal(err)
	}
	var first, second []string
	var next string
	run("the jobs list",
		chromedp.Navigate(base+"/jobs"),
		chromedp.WaitVisible(`#next`),
		chromedp.Evaluate(`[...document.querySelectorAll("#jobs tbody td:first-child")].map(e => e.textContent)`, &first),
		chromedp.AttributeValue(`#next`, "href", &next, nil),
	)
	if !strings.HasPrefix(next, "/jobs?") {
		t.Fatalf("the next page's link is %q", next)
	}
	run("the jobs list's second page",
		chromedp.Navigate(base+next), // waits for the page's load
		chromedp.Evaluate(`[...document.querySelectorAll("#jobs tbody td:first-child")].map(e => e.textContent)`, &second),
	)
	if len(first) != 50 || len(second) != 13 {
		t.Errorf("pages of %d and %d jobs, want 50 and 13", len(first), len(second))
	}
	for _, id := range second {
		for _, f := range first {
			if id == f {
				t.Errorf("job %s is on both pages", id)
			}
		}
	}
}
