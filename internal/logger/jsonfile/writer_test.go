package jsonfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writerEntry is one line of a json-file log as the tests decode it:
//
//	{"log":"hello\n","stream":"stdout","time":"2026-11-22T23:45:39.123456789Z"}
//
// Log holds the bytes of one line including its '\n'; a line that had to be
// split (longer than WriterMaxLine) or that the stream ended without a
// newline has none. Time is UTC and written with time.RFC3339Nano.
type writerEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

func writerReadEntries(t *testing.T, path string) []writerEntry {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []writerEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e writerEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func TestWriterFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(path, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 22, 23, 45, 39, 123456789, time.FixedZone("x", 3600))
	s := w.Stream("stdout")
	s.now = func() time.Time { return at }
	if _, err := s.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"log":"hello\n","stream":"stdout","time":"2026-11-22T22:45:39.123456789Z"}` + "\n"
	if string(got) != want {
		t.Fatalf("flushed after Write:\n got %q\nwant %q", got, want)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestWriterEscaping(t *testing.T) {
	tests := []struct {
		doc  string
		in   string
		want string
	}{
		{doc: "plain", in: "abc", want: `"abc"`},
		{doc: "quotes and backslash", in: `a"b\c`, want: `"a\"b\\c"`},
		{doc: "control", in: "\t\r\n\x01\x1b", want: `"\t\r\n\u0001\u001b"`},
		{doc: "html", in: "<a>&", want: `"\u003ca\u003e\u0026"`},
		{doc: "utf8 kept", in: "héllo ✓", want: `"héllo ✓"`},
		{doc: "invalid utf8", in: "a\xffb", want: `"a\ufffdb"`},
		{doc: "line separators", in: "\u2028\u2029", want: `"\u2028\u2029"`},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			got := string(writerAppendString(nil, []byte(tc.in)))
			if got != tc.want {
				t.Fatalf("got %s want %s", got, tc.want)
			}
			std, err := json.Marshal(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(std) {
				t.Fatalf("differs from encoding/json: %s vs %s", got, std)
			}
		})
	}
}

func TestWriterSplitting(t *testing.T) {
	long := strings.Repeat("x", WriterMaxLine)
	tests := []struct {
		doc    string
		writes []string
		close  bool
		want   []string
	}{
		{doc: "lines in one chunk", writes: []string{"a\nb\nc\n"}, want: []string{"a\n", "b\n", "c\n"}},
		{doc: "line across chunks", writes: []string{"he", "llo\nwor", "ld\n"}, want: []string{"hello\n", "world\n"}},
		{doc: "partial held until close", writes: []string{"prompt> "}, close: true, want: []string{"prompt> "}},
		{doc: "partial not written before close", writes: []string{"a\nprompt> "}, want: []string{"a\n"}},
		{doc: "empty lines", writes: []string{"\n\n"}, want: []string{"\n", "\n"}},
		{doc: "exactly max without newline", writes: []string{long}, want: []string{long}},
		{doc: "max plus newline", writes: []string{long + "\n"}, want: []string{long, "\n"}},
		{doc: "long line over chunks", writes: []string{long[:10000], long[:10000] + "end\n"}, want: []string{long, long[:20000-WriterMaxLine] + "end\n"}},
		{doc: "two and a half pieces", writes: []string{long + long + "ab"}, close: true, want: []string{long, long, "ab"}},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log")
			w, err := NewWriter(path, WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			s := w.Stream("stderr")
			for _, chunk := range tc.writes {
				n, err := s.Write([]byte(chunk))
				if err != nil || n != len(chunk) {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if tc.close {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
			got := writerReadEntries(t, path)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d entries, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, e := range got {
				if e.Log != tc.want[i] || e.Stream != "stderr" || e.Time.IsZero() {
					t.Errorf("entry %d = %q/%q/%v, want %q", i, e.Log, e.Stream, e.Time, tc.want[i])
				}
			}
		})
	}
}

func TestWriterRotation(t *testing.T) {
	tests := []struct {
		doc      string
		maxFiles int
		want     []string // files that must exist
		gone     []string // files that must not
	}{
		{doc: "three files", maxFiles: 3, want: []string{"", ".1", ".2"}, gone: []string{".3"}},
		{doc: "one file truncates", maxFiles: 1, want: []string{""}, gone: []string{".1"}},
		{doc: "zero means one", maxFiles: 0, want: []string{""}, gone: []string{".1"}},
	}
	for _, tc := range tests {
		t.Run(tc.doc, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c-json.log")
			w, err := NewWriter(path, WriterOptions{MaxSize: 200, MaxFiles: tc.maxFiles})
			if err != nil {
				t.Fatal(err)
			}
			s := w.Stream("stdout")
			for i := range 40 {
				if _, err := s.Write([]byte("line " + strconv.Itoa(i) + "\n")); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			for _, suffix := range tc.want {
				st, err := os.Stat(path + suffix)
				if err != nil {
					t.Fatalf("missing %s: %v", suffix, err)
				}
				// An entry is ~70 bytes: a file holds at most MaxSize plus one entry.
				if st.Size() > 200+100 {
					t.Errorf("%s has %d bytes", suffix, st.Size())
				}
			}
			for _, suffix := range tc.gone {
				if _, err := os.Stat(path + suffix); !os.IsNotExist(err) {
					t.Errorf("%s exists (%v)", suffix, err)
				}
			}
			// The newest line is last in the live file, and the rotated files
			// hold strictly older lines.
			live := writerReadEntries(t, path)
			if len(live) == 0 || live[len(live)-1].Log != "line 39\n" {
				t.Fatalf("live file ends with %+v", live)
			}
			if tc.maxFiles > 1 {
				older := writerReadEntries(t, path+".1")
				last := older[len(older)-1].Log
				if last != "line "+strconv.Itoa(39-len(live))+"\n" {
					t.Errorf(".1 ends with %q, live starts with %q", last, live[0].Log)
				}
			}
		})
	}
}

func TestWriterReopenAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	for _, msg := range []string{"one\n", "two\n"} {
		w, err := NewWriter(path, WriterOptions{MaxSize: 1 << 20, MaxFiles: 2})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Stream("stdout").Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	got := writerReadEntries(t, path)
	if len(got) != 2 || got[0].Log != "one\n" || got[1].Log != "two\n" {
		t.Fatalf("got %+v", got)
	}
	if _, err := writerWriteAfterClose(path); err == nil {
		t.Fatal("write after close succeeded")
	}
}

// writerWriteAfterClose writes through a closed Writer.
func writerWriteAfterClose(path string) (int, error) {
	w, err := NewWriter(path, WriterOptions{})
	if err != nil {
		return 0, err
	}
	w.Close()
	return w.Stream("stdout").Write([]byte("x\n"))
}
