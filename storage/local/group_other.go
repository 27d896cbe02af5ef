//go:build !linux

package local

const syncFSSupported = false

func newSyncFS(string) (func() error, func()) { return func() error { return nil }, func() {} }

func groupable(string) bool { return false }
