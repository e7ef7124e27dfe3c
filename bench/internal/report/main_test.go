package main

import (
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	t.Parallel()
	in := `free text
RESULT name=q.rgrid unit=jobs/s value=1000 anchor=q.river target=>=1x desc="RGrid"
RESULT name=q.river unit=jobs/s value=20000
RESULT name=q.rgrid unit=jobs/s value=1200 anchor=q.river target=>=1x
RESULT name=q.river unit=jobs/s value=18000
RESULT name=q.rgrid unit=jobs/s value=1100 anchor=q.river target=>=1x
RESULT name=q.river unit=jobs/s value=19000
RESULT name=lat unit=ms value=2.5 target=<=5
RESULT name=lat unit=ms value=3.5 target=<=5
NOTMEASURED name=logs reason="bench/logs is not in this tree"
RESULT name=ovh unit=ms value=380 anchor=gone target=<=1.25x
RESULT name=bad unit=ms value=x
`
	figs, problems := collect(strings.NewReader(in))
	if len(problems) != 1 || !strings.Contains(problems[0], "line 12") {
		t.Errorf("problems = %q, want one about line 12", problems)
	}
	var b strings.Builder
	render(&b, figs)
	got := b.String()
	for _, want := range []string{
		"| q.rgrid | jobs/s | 1100 | 1000 | 1200 | 3 | 0.06× q.river | ≥ 1× | **missed** |",
		"| q.river | jobs/s | 19,000 | 18,000 | 20,000 | 3 |  |  |  |",
		"| lat | ms | 3.00 | 2.50 | 3.50 | 2 |  | ≤ 5 | met |",
		"| logs | — | not measured | | | 0 | |  | |",
		"| ovh | ms | 380 | 380 | 380 | 1 | no gone | ≤ 1.25× | ? |",
		"- q.rgrid: RGrid",
		"- logs not measured: bench/logs is not in this tree",
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}
