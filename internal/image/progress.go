package image

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/jsonstream"
)

// progressMessage is one line of Docker's JSON progress stream, as
// dockerd writes it for pull and push: the fields of jsonstream.Message
// plus the pre-rendered bar ("progress") and the error text ("error")
// that older clients read.
type progressMessage struct {
	Status       string               `json:"status,omitempty"`
	Detail       *jsonstream.Progress `json:"progressDetail,omitempty"`
	ProgressBar  string               `json:"progress,omitempty"`
	ID           string               `json:"id,omitempty"`
	ErrorDetail  *jsonstream.Error    `json:"errorDetail,omitempty"`
	ErrorMessage string               `json:"error,omitempty"`
	Aux          any                  `json:"aux,omitempty"`
}

// progress writes the stream of a pull or push. It is safe for concurrent
// use: layers report from their own goroutines. Byte counts are sent at
// most every 100ms per layer, and always when a transfer completes.
type progress struct {
	mu   sync.Mutex
	w    io.Writer
	enc  *json.Encoder
	last map[string]time.Time // guarded by mu; last byte report per ID
	err  error                // guarded by mu; the first write error
}

func newProgress(w io.Writer) *progress {
	if w == nil {
		w = io.Discard
	}
	return &progress{w: w, enc: json.NewEncoder(w), last: map[string]time.Time{}}
}

func (p *progress) write(m progressMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return
	}
	p.err = p.enc.Encode(m)
}

// status writes a line without an ID ("Digest: sha256:…").
func (p *progress) status(format string, args ...any) {
	p.write(progressMessage{Status: fmt.Sprintf(format, args...)})
}

// layer writes a per-layer status such as "Pulling fs layer". The empty
// progressDetail makes the Docker CLI keep one line per ID.
func (p *progress) layer(id, status string) {
	p.write(progressMessage{Status: status, ID: id, Detail: &jsonstream.Progress{}})
}

// bytes reports current of total bytes moved for id under status
// ("Downloading", "Extracting", "Pushing").
func (p *progress) bytes(id, status string, current, total int64) {
	now := time.Now()
	p.mu.Lock()
	if current < total && now.Sub(p.last[id]) < 100*time.Millisecond {
		p.mu.Unlock()
		return
	}
	p.last[id] = now
	p.mu.Unlock()
	d := &jsonstream.Progress{Current: current, Total: total}
	p.write(progressMessage{Status: status, ID: id, Detail: d, ProgressBar: progressBar(current, total)})
}

// aux writes an out-of-band result, such as the pushed digest.
func (p *progress) aux(v any) { p.write(progressMessage{Aux: v}) }

// progressBar renders the bar dockerd puts in "progress", for clients that
// print it as is.
func progressBar(current, total int64) string {
	const width = 50
	if total <= 0 {
		return units.HumanSize(float64(current))
	}
	n := int(current * width / total)
	if n > width {
		n = width
	}
	bar := strings.Repeat("=", n)
	if n < width {
		bar += ">" + strings.Repeat(" ", width-n-1)
	}
	return fmt.Sprintf("[%s] %8v/%v", bar, units.HumanSize(float64(current)), units.HumanSize(float64(total)))
}

// WriteStreamError ends a progress stream with err as dockerd does, for a
// failure found after the stream began: {"errorDetail":{"message":…},
// "error":…}. The Docker CLI prints the message and exits non-zero.
func WriteStreamError(w io.Writer, err error) error {
	msg := err.Error()
	return json.NewEncoder(w).Encode(progressMessage{ErrorDetail: &jsonstream.Error{Message: msg}, ErrorMessage: msg})
}

// shortDigest is the 12-hex ID Docker shows for a layer.
func shortDigest(d fmt.Stringer) string { return shortID(d.String()) }
