package root

import "fmt"

// hostList is -H ("list" in help), appending to the global options.
type hostList struct{ hosts *[]string }

func newHostList(p *[]string) *hostList { return &hostList{hosts: p} }

func (h *hostList) String() string {
	if len(*h.hosts) == 0 {
		return ""
	}
	return fmt.Sprintf("%v", *h.hosts)
}
func (h *hostList) Set(v string) error { *h.hosts = append(*h.hosts, v); return nil }
func (h *hostList) Type() string       { return "list" }
