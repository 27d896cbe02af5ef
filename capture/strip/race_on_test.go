//go:build race

package strip

// raceEnabled is set when the tests run with the race detector, under
// which decoding a large photo takes a minute: such tests then decode only
// small files.
const raceEnabled = true
