//go:build !linux

package local

const syncFSSupported = false

func newSyncFS(string) (func() error, func()) { return func() error { return nil }, func() {} }
