//go:build !race

package strip

const raceEnabled = false
