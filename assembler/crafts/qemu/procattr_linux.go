package qemu

import "syscall"

// childAttr makes a qemu-img child die with the assembler: after a crash
// an orphan must not keep writing a .tmp the restarted assembler rebuilds.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
