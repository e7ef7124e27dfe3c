package benchkit

import (
	"maps"
	"testing"
)

func TestFigureLineParsesBack(t *testing.T) {
	t.Parallel()
	f := Figure{Name: "queue.api", Unit: "jobs/s", Desc: `10,000 jobs, "4 workers"`, Anchor: "queue.raw", Target: ">=1x"}
	l, ok, err := ParseLine(f.line(2345.5))
	if !ok || err != nil {
		t.Fatalf("ParseLine(%q) = ok %v, err %v", f.line(2345.5), ok, err)
	}
	want := map[string]string{"name": "queue.api", "unit": "jobs/s", "value": "2345.5",
		"anchor": "queue.raw", "target": ">=1x", "desc": `10,000 jobs, "4 workers"`}
	if !maps.Equal(l.Fields, want) || l.Value != 2345.5 || l.Kind != "RESULT" {
		t.Errorf("got %+v, want fields %v and value 2345.5", l, want)
	}
}

func TestParseLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line    string
		ok, err bool
	}{
		{"free text", false, false},
		{"RESULTS are in", false, false},
		{"RESULT name=a unit=ms value=1.5", true, false},
		{"  RESULT name=a.b_c-1 unit=ms value=-3e2 target=<=5  ", true, false},
		{`NOTMEASURED name=logs reason="bench/logs is missing"`, true, false},
		{"RESULT name=a unit=ms", true, true},                       // no value
		{"RESULT name=a value=1", true, true},                       // no unit
		{"RESULT name=A unit=ms value=1", true, true},               // name case
		{"RESULT name=a unit=ms value=one", true, true},             // not a number
		{"RESULT name=a unit=ms value=1 target=5", true, true},      // no comparison
		{"RESULT name=a unit=ms value=1 target=<=fast", true, true}, // not a number
		{`RESULT name=a unit=ms value=1 desc="open`, true, true},    // unterminated
		{`RESULT name=a unit=ms value=1 desc=a"b`, true, true},      // stray quote
		{"RESULT name=a unit=ms value=1 value=2", true, true},       // twice
		{"RESULT name=a unit=ms value=1 junk", true, true},          // no =
		{`NOTMEASURED reason="no name"`, true, true},                // no name
		{"RESULT name=a unit=jobs/s value=19000 anchor=b target=>=1x", true, false},
	}
	for _, tt := range tests {
		_, ok, err := ParseLine(tt.line)
		if ok != tt.ok || (err != nil) != tt.err {
			t.Errorf("ParseLine(%q) = ok %v, err %v; want ok %v, error %v", tt.line, ok, err, tt.ok, tt.err)
		}
	}
}

func TestTarget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		target string
		v      float64
		met    bool
	}{
		{">=2000", 2000, true},
		{">=2000", 1999.9, false},
		{"<=5", 4.2, true},
		{"<=5", 5.1, false},
		{"<=1.25x", 0.84, true},
		{">=1x", 0.5, false},
	}
	for _, tt := range tests {
		tg, err := ParseTarget(tt.target)
		if err != nil {
			t.Fatalf("ParseTarget(%q): %v", tt.target, err)
		}
		if got := tg.Met(tt.v); got != tt.met {
			t.Errorf("%s met by %v = %v, want %v", tt.target, tt.v, got, tt.met)
		}
	}
}
