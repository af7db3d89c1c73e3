//go:build unix

package main

import "syscall"

// flushWrites asks the kernel to write back every written page.
func flushWrites() { syscall.Sync() }
