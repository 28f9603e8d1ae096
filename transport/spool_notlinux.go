//go:build !linux

package transport

import "os"

func datasync(f *os.File) error { return f.Sync() }
