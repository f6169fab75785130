package jsonfile

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 23, 45, 39, 123456789, time.UTC)

// rec is an entry as the tests write and expect it.
type rec struct {
	Log    string            `json:"log"`
	Stream string            `json:"stream"`
	Attrs  map[string]string `json:"attrs,omitempty"`
	Time   time.Time         `json:"time"`
}

// line encodes r the way dockerd's json-file driver does (encoding/json).
func (r rec) line(t *testing.T) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n"
}

// numbered returns n entries "<prefix><i>\n", one second apart, alternating
// stdout and stderr.
func numbered(prefix string, from, n int) []rec {
	var out []rec
	for i := from; i < from+n; i++ {
		s := "stdout"
		if i%2 == 1 {
			s = "stderr"
		}
		out = append(out, rec{Log: fmt.Sprintf("%s%d\n", prefix, i), Stream: s, Time: t0.Add(time.Duration(i) * time.Second)})
	}
	return out
}

func appendLog(t *testing.T, path string, recs ...rec) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, r := range recs {
		if _, err := f.WriteString(r.line(t)); err != nil {
			t.Fatal(err)
		}
	}
}

func appendRaw(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// collect runs Read and returns what it sent, copied.
func collect(t *testing.T, path string, opts ReadOptions) []rec {
	t.Helper()
	var got []rec
	err := Read(context.Background(), path, opts, nil, func(e Entry) error {
		got = append(got, rec{Log: string(e.Line), Stream: e.Stream, Time: e.Time, Attrs: e.Attrs})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func logs(rs []rec) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Log)
	}
	return out
}

func TestReadDecodes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	tests := []struct {
		doc  string
		raw  string
		want rec
	}{
		{doc: "plain line", raw: rec{Log: "hello\n", Stream: "stdout", Time: t0}.line(t), want: rec{Log: "hello\n", Stream: "stdout", Time: t0}},
		{doc: "escapes, HTML-safe and unicode", raw: rec{Log: "a\"b\\c\t<&> é 😀 \x01\n", Stream: "stderr", Time: t0}.line(t), want: rec{Log: "a\"b\\c\t<&> é 😀 \x01\n", Stream: "stderr", Time: t0}},
		{doc: "partial entry has no newline", raw: rec{Log: "no newline", Stream: "stdout", Time: t0}.line(t), want: rec{Log: "no newline", Stream: "stdout", Time: t0}},
		{doc: "attrs for --details", raw: rec{Log: "x\n", Stream: "stdout", Time: t0, Attrs: map[string]string{"env": "a=b", "k\"": "v"}}.line(t),
			want: rec{Log: "x\n", Stream: "stdout", Time: t0, Attrs: map[string]string{"env": "a=b", "k\"": "v"}}},
		{doc: "keys in another order, spaces", raw: `{ "time" : "2026-11-22T23:45:39.123456789Z", "stream":"stderr" , "log":"y\n" }` + "\n", want: rec{Log: "y\n", Stream: "stderr", Time: t0}},
		{doc: "unknown key goes through encoding/json", raw: `{"log":"z\n","stream":"stdout","extra":[1,2],"time":"2026-11-22T23:45:39.123456789Z"}` + "\n", want: rec{Log: "z\n", Stream: "stdout", Time: t0}},
		{doc: "time with an offset and few digits", raw: `{"log":"o\n","stream":"stdout","time":"2026-11-23T01:45:39.5+02:00"}` + "\n", want: rec{Log: "o\n", Stream: "stdout", Time: time.Date(2026, 11, 22, 23, 45, 39, 500000000, time.UTC)}},
		{doc: "time without fraction", raw: `{"log":"s\n","stream":"stdout","time":"2026-11-22T23:45:39Z"}` + "\n", want: rec{Log: "s\n", Stream: "stdout", Time: time.Date(2026, 11, 22, 23, 45, 39, 0, time.UTC)}},
		{doc: "escaped surrogate pair", raw: `{"log":"\ud83d\ude00\u003c\n","stream":"stdout","time":"2026-11-22T23:45:39.123456789Z"}` + "\n", want: rec{Log: "😀<\n", Stream: "stdout", Time: t0}},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(tc.raw), 0o640); err != nil {
				t.Fatal(err)
			}
			got := collect(t, path, ReadOptions{Tail: -1})
			if len(got) != 1 {
				t.Fatalf("got %d entries: %+v", len(got), got)
			}
			g := got[0]
			if g.Log != tc.want.Log || g.Stream != tc.want.Stream || !g.Time.Equal(tc.want.Time) || !mapsEqual(g.Attrs, tc.want.Attrs) {
				t.Fatalf("got %+v\nwant %+v", g, tc.want)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestReadSkipsDamagedLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	appendLog(t, path, numbered("a", 0, 1)...)
	appendRaw(t, path, "{not json\n\n")
	appendLog(t, path, numbered("a", 1, 1)...)
	appendRaw(t, path, `{"log":"cut`) // an unfinished write at the end
	if got := logs(collect(t, path, ReadOptions{Tail: -1})); !slices.Equal(got, []string{"a0\n", "a1\n"}) {
		t.Fatalf("got %q", got)
	}
}

// rotatedLog writes lines 0-2 to path.2, 3-5 to path.1 and 6-8 to path.
func rotatedLog(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "c-json.log")
	all := numbered("line", 0, 9)
	appendLog(t, path+".2", all[0:3]...)
	appendLog(t, path+".1", all[3:6]...)
	appendLog(t, path, all[6:9]...)
	return path
}

func wantLines(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("line%d\n", i))
	}
	return out
}

func TestReadTail(t *testing.T) {
	path := rotatedLog(t)
	tests := []struct {
		doc  string
		tail int
		want []string
	}{
		{doc: "-1 is everything, oldest file first", tail: -1, want: wantLines(0, 9)},
		{doc: "0 is nothing", tail: 0, want: nil},
		{doc: "within the live file", tail: 2, want: wantLines(7, 9)},
		{doc: "exactly the live file", tail: 3, want: wantLines(6, 9)},
		{doc: "reaching into a rotated file", tail: 4, want: wantLines(5, 9)},
		{doc: "across two rotated files", tail: 8, want: wantLines(1, 9)},
		{doc: "more than there is", tail: 100, want: wantLines(0, 9)},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			if got := logs(collect(t, path, ReadOptions{Tail: tc.tail})); !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadTailLargeLines(t *testing.T) {
	// Lines longer than a tail block and a read buffer.
	path := filepath.Join(t.TempDir(), "c-json.log")
	big := strings.Repeat("x", 300<<10)
	appendLog(t, path, rec{Log: "first\n", Stream: "stdout", Time: t0}, rec{Log: big + "\n", Stream: "stdout", Time: t0}, rec{Log: "last", Stream: "stdout", Time: t0})
	if got := logs(collect(t, path, ReadOptions{Tail: 2})); !slices.Equal(got, []string{big + "\n", "last"}) {
		t.Fatalf("got %d entries", len(got))
	}
}

func TestReadFilters(t *testing.T) {
	path := rotatedLog(t)
	tests := []struct {
		doc  string
		opts ReadOptions
		want []string
	}{
		{doc: "stdout only", opts: ReadOptions{Tail: -1, Stdout: true}, want: []string{"line0\n", "line2\n", "line4\n", "line6\n", "line8\n"}},
		{doc: "stderr only", opts: ReadOptions{Tail: -1, Stderr: true}, want: []string{"line1\n", "line3\n", "line5\n", "line7\n"}},
		{doc: "since is inclusive", opts: ReadOptions{Tail: -1, Since: t0.Add(4 * time.Second)}, want: wantLines(4, 9)},
		{doc: "until is inclusive", opts: ReadOptions{Tail: -1, Until: t0.Add(2 * time.Second)}, want: wantLines(0, 3)},
		{doc: "since and until", opts: ReadOptions{Tail: -1, Since: t0.Add(3 * time.Second), Until: t0.Add(5*time.Second + time.Millisecond)}, want: wantLines(3, 6)},
		{doc: "tail counts both streams, then filters", opts: ReadOptions{Tail: 3, Stderr: true}, want: []string{"line7\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			if got := logs(collect(t, path, tc.opts)); !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadCallbackError(t *testing.T) {
	path := rotatedLog(t)
	stop := errors.New("enough")
	n := 0
	err := Read(context.Background(), path, ReadOptions{Tail: -1}, nil, func(Entry) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Fatalf("err = %v after %d entries", err, n)
	}
}

func TestReadMissingFile(t *testing.T) {
	if got := collect(t, filepath.Join(t.TempDir(), "none.log"), ReadOptions{Tail: -1}); len(got) != 0 {
		t.Fatalf("got %v", got)
	}
}

// follower runs Read with Follow in the background and hands over each
// entry's text.
type follower struct {
	lines chan string
	done  chan error
	stop  chan struct{}
}

func startFollow(t *testing.T, ctx context.Context, path string, opts ReadOptions) *follower {
	t.Helper()
	f := &follower{lines: make(chan string, 1000), done: make(chan error, 1), stop: make(chan struct{})}
	opts.Follow = true
	go func() {
		f.done <- Read(ctx, path, opts, f.stop, func(e Entry) error {
			f.lines <- string(e.Line)
			return nil
		})
	}()
	t.Cleanup(func() {
		select {
		case <-f.stop:
		default:
			close(f.stop)
		}
		<-f.done
	})
	return f
}

// expect waits for the given lines, in order, failing after a deadline.
func (f *follower) expect(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for _, w := range want {
		select {
		case got := <-f.lines:
			if got != w {
				t.Fatalf("got %q, want %q", got, w)
			}
		case err := <-f.done:
			t.Fatalf("Read ended (%v) while waiting for %q", err, w)
		case <-deadline:
			t.Fatalf("timed out waiting for %q", w)
		}
	}
}

func TestReadFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	appendLog(t, path, numbered("line", 0, 2)...)
	f := startFollow(t, context.Background(), path, ReadOptions{Tail: 1})
	// line1 arrives only after the watch is in place.
	f.expect(t, "line1\n")

	appendLog(t, path, numbered("line", 2, 2)...)
	f.expect(t, wantLines(2, 4)...)

	// A line written in two pieces is sent once, whole.
	l := rec{Log: "split\n", Stream: "stdout", Time: t0}.line(t)
	appendRaw(t, path, l[:10])
	appendRaw(t, path, l[10:])
	f.expect(t, "split\n")

	// Rotation: the live file becomes .1, a new live file starts. What was
	// written to the old file just before the rename is not lost.
	appendLog(t, path, numbered("line", 4, 1)...)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendLog(t, path, numbered("line", 5, 2)...)
	f.expect(t, wantLines(4, 7)...)

	// Twice more, the second time before the reader has seen the first.
	if err := os.Rename(path+".1", path+".2"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendLog(t, path, numbered("line", 7, 1)...)
	f.expect(t, "line7\n")

	// After stop, Read sends what is left and returns.
	appendLog(t, path, numbered("line", 8, 2)...)
	close(f.stop)
	if err := <-f.done; err != nil {
		t.Fatalf("Read after stop: %v", err)
	}
	f.done <- nil // for the cleanup
	var rest []string
	for len(f.lines) > 0 {
		rest = append(rest, <-f.lines)
	}
	if !slices.Equal(rest, wantLines(8, 10)) {
		t.Fatalf("after stop got %q", rest)
	}
}

func TestReadFollowBeforeFileExists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	f := startFollow(t, context.Background(), path, ReadOptions{Tail: -1})
	appendLog(t, path, numbered("line", 0, 1)...)
	f.expect(t, "line0\n")
}

func TestReadFollowTruncate(t *testing.T) {
	// max-file=1: the writer truncates the live file instead of rotating.
	path := filepath.Join(t.TempDir(), "c-json.log")
	appendLog(t, path, numbered("a-long-line-before-truncation-", 0, 3)...)
	f := startFollow(t, context.Background(), path, ReadOptions{Tail: -1, Stdout: true, Stderr: true})
	f.expect(t, "a-long-line-before-truncation-0\n", "a-long-line-before-truncation-1\n", "a-long-line-before-truncation-2\n")
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendLog(t, path, numbered("b", 0, 1)...)
	f.expect(t, "b0\n")
}

func TestReadFollowContextCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	appendLog(t, path, numbered("line", 0, 1)...)
	ctx, cancel := context.WithCancel(context.Background())
	f := startFollow(t, ctx, path, ReadOptions{Tail: -1})
	f.expect(t, "line0\n")
	cancel()
	if err := <-f.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	f.done <- nil
}

func TestReadFollowUntilEnds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	appendLog(t, path, numbered("line", 0, 1)...)
	f := startFollow(t, context.Background(), path, ReadOptions{Tail: -1, Until: t0.Add(time.Second)})
	f.expect(t, "line0\n")
	appendLog(t, path, numbered("line", 1, 2)...)
	f.expect(t, "line1\n")
	if err := <-f.done; err != nil {
		t.Fatalf("err = %v", err)
	}
	f.done <- nil
}

// benchLog writes n Docker-style lines and returns the path.
func benchLog(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench-json.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for i := 0; i < n; i++ {
		r := rec{Log: fmt.Sprintf("2026-11-22 23:45:39 INFO request %d served in 12ms path=/api/v1/items status=200\n", i), Stream: "stdout", Time: t0.Add(time.Duration(i) * time.Millisecond)}
		if err := enc.Encode(r); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

const benchLines = 100_000

// BenchmarkReadAll is `logs` over a 100k-line file: Read's whole cost,
// reported per line.
func BenchmarkReadAll(b *testing.B) {
	path := benchLog(b, benchLines)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		if err := Read(context.Background(), path, ReadOptions{Tail: -1}, nil, func(e Entry) error {
			n += len(e.Line)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchLines), "ns/line")
}

// BenchmarkReadAllEncodingJSON is the baseline dockerd's reader stands for:
// a json.Decoder decoding every line into a struct.
func BenchmarkReadAllEncodingJSON(b *testing.B) {
	path := benchLog(b, benchLines)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		dec := json.NewDecoder(bufio.NewReader(f))
		var r rec
		for {
			r = rec{}
			if err := dec.Decode(&r); err != nil {
				break
			}
		}
		f.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchLines), "ns/line")
}

// BenchmarkTail100 is `logs --tail 100` of the same file.
func BenchmarkTail100(b *testing.B) {
	path := benchLog(b, benchLines)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		if err := Read(context.Background(), path, ReadOptions{Tail: 100}, nil, func(Entry) error {
			n++
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		if n != 100 {
			b.Fatalf("got %d lines", n)
		}
	}
}
