package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rgrid/rgrid/client"
	"github.com/rgrid/rgrid/internal/money"
	"github.com/rgrid/rgrid/internal/testbrowser"
	"github.com/rgrid/rgrid/internal/testdb"
	"github.com/rgrid/rgrid/internal/testimages"
)

// TestConsoleBrowserDocker drives the console in real headless Chromium
// against "rgrid server" on PostgreSQL with tokens and "rgrid worker"
// with the Docker executor: alice logs in on the login page with her
// token; a job she submits with the CLI prints lines the job page shows
// while it runs; she cancels it from that page; a failed job's page shows
// its failure summary and hint; a job's page shows its cost and a link
// that downloads its output file's bytes; a batch's page shows its
// counts change live, and its spend; and the jobs list pages through
// 2,006 of her jobs, each once, in the API's order, to the end, with none
// of bob's.
// Screenshots are kept in the test's artifact directory (go test
// -artifacts); with RGRID_SCREENSHOTS=DIR the live job page's is written
// there as console.png (the README's).
func TestConsoleBrowserDocker(t *testing.T) {
	img := testimages.Python(t)
	ctx := testbrowser.Start(t, 5*time.Minute)
	cfg := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "[[runtimes]]\nname = \"python3.11\"\nimage = %q\n", img), 0o600); err != nil {
		t.Fatal(err)
	}
	env := isolatedEnv(t, "RGRID_CONFIG="+cfg)
	tokenFile := filepath.Join(t.TempDir(), "admin.token")
	srv, url := startServer(t, env, testdb.PostgresURL(t), "--bootstrap-token-file", tokenFile)
	adminSecret, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatalf("no bootstrap token: %v\n%s", err, srv.output())
	}
	admin, err := client.New(url, strings.TrimSpace(string(adminSecret)))
	if err != nil {
		t.Fatal(err)
	}
	user := func(name string) (*client.Client, string) {
		res, err := admin.CreateUser(t.Context(), client.CreateUserRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.New(url, res.Token.Secret)
		if err != nil {
			t.Fatal(err)
		}
		return c, res.Token.Secret
	}
	alice, aliceSecret := user("alice")
	bob, _ := user("bob")
	wt, err := admin.CreateWorkerToken(t.Context(), client.CreateTokenRequest{Pool: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	worker := start(t, env, "worker", "--server", url, "--worker-id", "cw-"+t.Name(), "--slots", "2",
		"--executor", "docker", "--token", wt.Secret, "--price-per-hour", "0.02", "--currency", "EUR")
	removeWarmAtEnd(t, worker, "cw-"+t.Name())
	worker.waitReady(t, "registered", func() bool {
		ws, err := admin.Workers(t.Context())
		return err == nil && slices.ContainsFunc(ws, func(w client.Worker) bool { return w.State == "active" })
	})

	artifacts := t.ArtifactDir()
	shoot := func(name string) chromedp.Action {
		var png []byte
		return chromedp.Tasks{chromedp.CaptureScreenshot(&png), chromedp.ActionFunc(func(context.Context) error {
			return os.WriteFile(filepath.Join(artifacts, name), png, 0o644)
		})}
	}
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		testbrowser.Run(t, ctx, what, actions...)
	}
	submit := func(name, body string) string {
		t.Helper()
		r := rgrid(t, append(slices.Clip(env), "RGRID_SERVER="+url, "RGRID_TOKEN="+aliceSecret),
			"run", "--detach", writeScript(t, name, body))
		id := regexp.MustCompile(`\S+`).FindString(r.stdout)
		if r.code != 0 || id == "" {
			t.Fatalf("rgrid run --detach %s: exit %d, stdout %q, stderr %q", name, r.code, r.stdout, r.stderr)
		}
		return id
	}

	// Log in: a wrong token is refused with the reason, alice's gets in.
	var errText, where string
	run("the login page",
		chromedp.Navigate(url+"/jobs"),
		chromedp.WaitVisible(`#token`),
		chromedp.SendKeys(`#token`, "rgu_"+strings.Repeat("0", 40)),
		chromedp.Click(`#login`),
		chromedp.WaitVisible(`#error`),
		chromedp.Text(`#error`, &errText),
		chromedp.SendKeys(`#token`, aliceSecret),
		chromedp.Click(`#login`),
		chromedp.WaitVisible(`#jobs`),
		chromedp.Location(&where),
		shoot("01-jobs-after-login.png"),
	)
	if errText == "" || !strings.HasSuffix(where, "/jobs") {
		t.Errorf("login: the wrong token's error %q; logged in, at %q (want /jobs)", errText, where)
	}

	// A job's lines appear on its page while it runs; it is canceled there.
	live := submit("live.py", `import time
for i in range(1, 3000):
    print(f"tick {i} at {time.time():.3f}", flush=True)
    time.sleep(0.1)
`)
	var first, later string
	var shownAt float64
	run("the live job's page",
		chromedp.Navigate(url+"/jobs/"+live),
		chromedp.WaitVisible(`//pre[@id="log"]/div[contains(., "tick 3 at ")]`),
		chromedp.Text(`//pre[@id="log"]/div[contains(., "tick 3 at ")]`, &first),
		chromedp.Evaluate(`Date.now() / 1000`, &shownAt),
	)
	// Lines keep coming while the page is open: ten more.
	var last string
	run("the live job's page, later",
		chromedp.Text(`#log`, &last),
	)
	ticks := regexp.MustCompile(`tick (\d+) at`).FindAllStringSubmatch(last, -1)
	n, _ := strconv.Atoi(ticks[len(ticks)-1][1])
	run("the live job's page, ten lines on",
		chromedp.WaitVisible(fmt.Sprintf(`//pre[@id="log"]/div[contains(., "tick %d at ")]`, n+10)),
		chromedp.Text(`#state`, &later),
		shoot("02-job-live.png"),
	)
	if j, err := alice.Job(t.Context(), live); err != nil || later != "running" || j.State != client.StateRunning {
		t.Errorf("the page showed new lines of a job in state %q (the API says %s, %v), want running", later, j.State, err)
	}
	if m := regexp.MustCompile(`tick 3 at ([0-9.]+)`).FindStringSubmatch(first); m != nil {
		if printed, err := strconv.ParseFloat(m[1], 64); err == nil {
			t.Logf("tick 3 was on the page %.0f ms after the job printed it (a figure, not asserted)", (shownAt-printed)*1000)
		}
	}
	if dir := os.Getenv("RGRID_SCREENSHOTS"); dir != "" {
		var png []byte
		run("the README's screenshot", chromedp.CaptureScreenshot(&png))
		if err := os.WriteFile(filepath.Join(dir, "console.png"), png, 0o644); err != nil {
			t.Error(err)
		}
	}
	run("cancel from the page",
		chromedp.Click(`#cancel`),
		chromedp.WaitVisible(`//span[@id="state" and text()="canceled"]`),
		// The attempts table follows without a reload.
		chromedp.WaitVisible(`//table[@id="attempts"]//tr[td[1]="1" and td[3]="canceled" and td[5]!="—"]`),
		shoot("03-job-canceled.png"),
	)
	if j := waitTerminal(t, alice, []string{live}, time.Minute)[live]; j.State != client.StateCanceled {
		t.Errorf("canceled from its page, the job ended %s", j.State)
	}

	// A failed job: its summary (the traceback's last line) and its hint.
	bad := submit("bad.py", "import cv2\n")
	if j := waitTerminal(t, alice, []string{bad}, 2*time.Minute)[bad]; j.State != client.StateFailed {
		t.Fatalf("the failing job ended %s (%s), want failed", j.State, j.Message)
	}
	var failure, hint string
	run("the failed job's page",
		chromedp.Navigate(url+"/jobs/"+bad),
		chromedp.WaitVisible(`#hint`),
		chromedp.Text(`#failure`, &failure),
		chromedp.Text(`#hint`, &hint),
		chromedp.WaitVisible(`//pre[@id="log"]/div[contains(@class,"stderr") and contains(., "ModuleNotFoundError")]`),
		shoot("04-job-failed.png"),
	)
	if !strings.Contains(failure, "ModuleNotFoundError: No module named 'cv2'") || !strings.Contains(hint, "add opencv-python to a requirements.txt") {
		t.Errorf("the failed job's page: summary %q, hint %q", failure, hint)
	}

	// A job's page shows its cost, as the API has it, and links its
	// output file, whose link returns the file's bytes.
	made := submit("make.py", "open('result.txt', 'w').write('made by the job\\n')\n")
	madeJob := waitTerminal(t, alice, []string{made}, 2*time.Minute)[made]
	if madeJob.State != client.StateSucceeded || madeJob.Cost == nil {
		t.Fatalf("the job writing a file ended %s (%s), cost %v; want succeeded, priced", madeJob.State, madeJob.Message, madeJob.Cost)
	}
	var costText, fetched string
	run("a job's cost and its output's link",
		chromedp.Navigate(url+"/jobs/"+made),
		chromedp.WaitVisible(`//table[@id="files"]//tr[@class="output"]//a[text()="result.txt"]`),
		chromedp.Text(`#cost`, &costText),
		chromedp.Evaluate(`void fetch(document.querySelector("#files tr.output a").href).then(r => r.text()).then(t => { window.rgridFetched = t; })`, nil),
		chromedp.Poll(`typeof window.rgridFetched === "string"`, nil),
		chromedp.Evaluate(`window.rgridFetched`, &fetched),
		shoot("05-job-files-cost.png"),
	)
	if want := money.Format(madeJob.Cost.Micros) + " EUR"; !strings.Contains(costText, want) {
		t.Errorf("the job's page shows cost %q; the API says %s", costText, want)
	}
	if fetched != "made by the job\n" {
		t.Errorf("the output's download link returned %q, want the file's bytes", fetched)
	}

	// A batch's page follows its counts live: the same page (no reload)
	// shows the items succeed one by one, and what they cost.
	slow, _, err := alice.SubmitBatchRun(t.Context(), client.BatchRequest{
		Job: client.SubmitRequest{Script: []byte("import time\ntime.sleep(4)\n"), FileName: "slow.py"}, Array: []int{0, 1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	var before, spent string
	var samePage bool
	run("the batch's page, live",
		chromedp.Navigate(url+"/batches/"+slow.ID),
		chromedp.WaitVisible(`#counts`),
		chromedp.Text(`td[data-count="succeeded"]`, &before, chromedp.ByQuery),
		chromedp.Evaluate(`window.rgridSamePage = true`, nil),
		chromedp.Poll(`document.querySelector('td[data-count="succeeded"]').textContent === "3"`, nil, chromedp.WithPollingTimeout(3*time.Minute)),
		chromedp.Evaluate(`window.rgridSamePage === true`, &samePage),
		chromedp.Text(`#spent`, &spent),
		shoot("06-batch-live.png"),
	)
	if before == "3" || !samePage {
		t.Errorf("the batch's page: %s succeeded when it loaded, then 3 on the same page: %v; want a change seen live", before, samePage)
	}
	if !strings.Contains(spent, "EUR") {
		t.Errorf("the batch's page shows spend %q, want an amount in EUR", spent)
	}

	// 2,000 more jobs, queued (the worker stopped first), and one of bob's.
	_ = syscall.Kill(-worker.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-worker.done:
	case <-time.After(time.Minute):
		t.Fatal("the worker did not stop within a minute of SIGTERM")
	}
	for range 2 {
		reqs := make([]client.SubmitRequest, 1000)
		for i := range reqs {
			reqs[i] = client.SubmitRequest{Script: []byte("print(1)\n"), FileName: fmt.Sprintf("p%04d.py", i)}
		}
		if _, err := alice.SubmitBatch(t.Context(), reqs); err != nil {
			t.Fatal(err)
		}
	}
	bobs, err := bob.Submit(t.Context(), client.SubmitRequest{Script: []byte("print(2)\n"), FileName: "bob.py"})
	if err != nil {
		t.Fatal(err)
	}
	var want []string // alice's jobs, newest first, through the API
	for cursor, pages := "", 0; pages < 10; pages++ {
		l, err := alice.Jobs(t.Context(), client.ListOptions{Limit: 1000, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range l.Jobs {
			want = append(want, j.ID)
		}
		if cursor = l.Next; cursor == "" {
			break
		}
	}
	if len(want) != 2006 {
		t.Fatalf("alice has %d jobs through the API, want 2,006", len(want))
	}
	var got []string
	next, pages := "/jobs", 0
	for ; next != "" && pages < 60; pages++ {
		var ids []string
		run("jobs page "+strconv.Itoa(pages+1),
			chromedp.Navigate(url+next),
			chromedp.WaitVisible(`#jobs`),
			chromedp.Evaluate(`[...document.querySelectorAll("#jobs tbody td:first-child a")].map(e => e.textContent)`, &ids),
			chromedp.Evaluate(`document.querySelector("#next") ? document.querySelector("#next").getAttribute("href") : ""`, &next),
		)
		got = append(got, ids...)
	}
	run("the last jobs page", shoot("07-jobs-last-page.png"))
	if !slices.Equal(got, want) {
		t.Errorf("the console's %d pages hold %d jobs; want the API's 2,006 in its order, each once (first difference at %d)",
			pages, len(got), firstDiff(got, want))
	}
	if pages != 41 || next != "" {
		t.Errorf("paged %d pages, the last linking on to %q; want 41 pages of 50 ending with no link", pages, next)
	}
	if slices.Contains(got, bobs.ID) {
		t.Error("alice's console lists bob's job")
	}

	// Filters: her failed job alone, and a runtime none of hers has.
	var failed, other []string
	run("the filtered jobs pages",
		chromedp.Navigate(url+"/jobs?state=failed&runtime=python3.11"),
		chromedp.WaitVisible(`#jobs`),
		chromedp.Evaluate(`[...document.querySelectorAll("#jobs tbody td:first-child a")].map(e => e.textContent)`, &failed),
		chromedp.Navigate(url+"/jobs?runtime=bash"),
		chromedp.WaitVisible(`#jobs`),
		chromedp.Evaluate(`[...document.querySelectorAll("#jobs tbody td:first-child a")].map(e => e.textContent)`, &other),
	)
	if !slices.Equal(failed, []string{bad}) || len(other) != 0 {
		t.Errorf("filtered by failed: %v, want [%s]; by runtime bash: %v, want none", failed, bad, other)
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
