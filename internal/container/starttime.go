package container

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// userHZ is the unit of /proc/<pid>/stat's starttime: USER_HZ, 100 on
// every Linux architecture's ABI.
const userHZ = 100

// processStartTime is when pid started, to the clock tick: /proc gives
// the start as time since boot on the boot-time clock, which now is read
// against.
func processStartTime(pid int) (time.Time, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return time.Time{}, err
	}
	now := time.Now()
	var boot unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot); err != nil {
		return time.Time{}, fmt.Errorf("read the boot-time clock: %w", err)
	}
	// The command name, in parentheses, may hold spaces and parentheses:
	// the fields that follow start after the last ')'. starttime is the
	// 22nd field, the 20th after the name.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return time.Time{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return time.Time{}, fmt.Errorf("/proc/%d/stat: %d fields after the name, want 20 or more", pid, len(f))
	}
	ticks, err := strconv.ParseInt(f[19], 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("/proc/%d/stat: starttime: %w", pid, err)
	}
	since := time.Duration(boot.Nano()) - time.Duration(ticks)*(time.Second/userHZ)
	return now.Add(-since), nil
}
