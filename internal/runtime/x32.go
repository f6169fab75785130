package runtime

import (
	goruntime "runtime"

	"golang.org/x/sys/unix"
)

// x32SyscallBit marks a system call number as the x32 ABI's on amd64.
const x32SyscallBit = 0x40000000

// KernelHasX32 reports whether the running kernel serves the x32 ABI
// (CONFIG_X86_X32_ABI). It asks the kernel directly: getpid through the x32
// table answers ENOSYS where that ABI is not built in. Other architectures
// report true, so nothing is left out of their filters.
func KernelHasX32() bool {
	if goruntime.GOARCH != "amd64" {
		return true
	}
	_, _, errno := unix.RawSyscall(x32SyscallBit|unix.SYS_GETPID, 0, 0, 0)
	return errno != unix.ENOSYS
}
