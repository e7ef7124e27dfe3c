//go:build race

package storetest

// raceEnabled: the race detector slows the pure-Go SQLite many times
// over, so timings are not asserted under it.
const raceEnabled = true
