package container

import (
	"os/exec"
	"testing"
	"time"
)

// A child's start time is read back to the clock tick.
func TestProcessStartTime(t *testing.T) {
	before := time.Now()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	got, err := processStartTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	// One tick (10 ms) either way: starttime is counted in ticks.
	tick := time.Second / userHZ
	if got.Before(before.Add(-tick)) || got.After(after.Add(tick)) {
		t.Errorf("start time %s, want between %s and %s", got.Format(time.RFC3339Nano), before.Format(time.RFC3339Nano), after.Format(time.RFC3339Nano))
	}
	if _, err := processStartTime(1 << 30); err == nil {
		t.Error("a pid that does not exist has a start time")
	}
}
