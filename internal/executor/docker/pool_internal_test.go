package docker

import (
	"testing"
	"time"
)

// The pool's sizes: as many as the starts of the window, at least one
// while a key is in use, max in all (the most recent keys first), none
// for a key idle past the idle time.
func TestPoolTargets(t *testing.T) {
	now := time.Now()
	a, b, c := poolKey{image: "a"}, poolKey{image: "b"}, poolKey{image: "a", network: true}
	p := &pool{max: 4, idle: time.Minute, ready: map[poolKey][]*warm{}, use: map[poolKey]*keyUse{
		a: {last: now.Add(-time.Second), starts: []time.Time{now.Add(-20 * time.Second), now.Add(-3 * time.Second), now.Add(-2 * time.Second), now.Add(-time.Second)}},
		b: {last: now.Add(-500 * time.Millisecond), starts: []time.Time{now.Add(-500 * time.Millisecond), now.Add(-600 * time.Millisecond)}},
		c: {last: now.Add(-2 * time.Minute), starts: nil},
	}}
	want, next := p.targets(now)
	if want[b] != 2 || want[a] != 2 || want[c] != 0 {
		t.Errorf("targets %v; want b 2 (most recent, 2 starts), a the 2 left of 4 (3 starts in the window), c none (idle)", want)
	}
	if _, kept := p.use[c]; kept {
		t.Error("an idle key with no warm container is still counted")
	}
	if next <= 0 || next > poolCheck {
		t.Errorf("next look in %v, want within (0, %v]", next, poolCheck)
	}
	// One start long ago, still within idle: one waits.
	p = &pool{max: 4, idle: time.Minute, ready: map[poolKey][]*warm{}, use: map[poolKey]*keyUse{
		a: {last: now.Add(-30 * time.Second), starts: []time.Time{now.Add(-30 * time.Second)}},
	}}
	if want, _ := p.targets(now); want[a] != 1 {
		t.Errorf("targets %v; want one for a key in use without recent starts", want)
	}
}
