//go:build !linux

package assembler

import "syscall"

func childAttr() *syscall.SysProcAttr { return nil }
