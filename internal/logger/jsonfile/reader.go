package jsonfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/fsnotify/fsnotify"
)

// Entry is one decoded log entry.
type Entry struct {
	// Line is the output as written: with its "\n" when the line was
	// complete, without it for a partial entry. It points into the
	// reader's buffer and is valid only until fn returns; copy it to keep it.
	Line   []byte
	Stream string // "stdout" or "stderr"
	Time   time.Time
	Attrs  map[string]string // nil unless the entry has attrs
}

// ReadOptions selects entries, as `docker logs` flags do.
type ReadOptions struct {
	// Tail is the number of entries to start from, counted back from the
	// end over both streams (as Docker counts them); -1 means all, 0 none.
	Tail int
	// Since and Until bound the entries' times, both inclusive; zero means
	// unbounded. Reading ends at the first entry after Until.
	Since, Until time.Time
	// Follow keeps reading what is written after the existing entries.
	Follow bool
	// Stdout and Stderr choose the streams; when both are false, both are
	// read.
	Stdout, Stderr bool
	// Idle, if set, is called when a follow has caught up with the file and
	// is about to wait for more: the moment to flush buffered output.
	Idle func() error
}

// readBufferSize is how much of a file one read fetches; large reads keep
// syscalls out of the per-line cost.
const readBufferSize = 256 << 10

// tailBlockSize is how much --tail reads at a time, backwards from the end.
const tailBlockSize = 64 << 10

// errUntil ends reading at the first entry after ReadOptions.Until.
var errUntil = errors.New("past until")

// Read sends the entries of the json-file log at path that match opts to fn,
// oldest first, across the rotated files <path>.N … <path>.1 and <path>.
//
// --tail reads backwards from the end in blocks, counting newlines, so its
// cost depends on N, not on the size of the log. Lines that do not decode
// are skipped. A trailing line without its newline is the writer's
// unfinished write: it is held back while following and decoded when the
// file is done with.
//
// With Follow, Read keeps sending new entries, following the live file
// through rotations (a rename and a new file, or a truncation) by inotify,
// until ctx is done (it returns ctx.Err()) or stop is closed, after which
// it sends what is left in the file and returns nil. A non-nil error from
// fn ends Read with that error.
func Read(ctx context.Context, path string, opts ReadOptions, stop <-chan struct{}, fn func(Entry) error) error {
	if !opts.Stdout && !opts.Stderr {
		opts.Stdout, opts.Stderr = true, true
	}
	path = filepath.Clean(path)
	r := &reader{opts: opts, fn: fn}

	var w *fsnotify.Watcher
	if opts.Follow {
		// Watch before opening, so nothing written in between is missed.
		var err error
		if w, err = fsnotify.NewWatcher(); err != nil {
			return fmt.Errorf("follow log: %w", err)
		}
		defer w.Close()
		if err := w.Add(filepath.Dir(path)); err != nil {
			return fmt.Errorf("follow log: %w", err)
		}
	}

	files, err := openLogFiles(path)
	if err != nil {
		return err
	}
	defer func() {
		for _, f := range files {
			f.f.Close()
		}
	}()
	if err := r.setStarts(files); err != nil {
		return err
	}

	var live *logFile
	if n := len(files); n > 0 && files[n-1].live {
		live = files[n-1]
	}
	for _, f := range files {
		if err := r.drain(f, f != live || !opts.Follow); err != nil {
			return r.result(err)
		}
	}
	if !opts.Follow {
		return nil
	}
	return r.result(r.follow(ctx, w, path, live, stop))
}

// result turns the internal end-of-range marker into success.
func (r *reader) result(err error) error {
	if errors.Is(err, errUntil) {
		return nil
	}
	return err
}

// logFile is one open log file being read forward.
type logFile struct {
	f     *os.File
	info  os.FileInfo
	live  bool
	start int64 // where reading begins (after --tail)
	lr    *lineReader
}

// openLogFiles opens <path>, <path>.1, <path>.2, … (newest first, so a
// rotation during the opening shows up as the same file twice, which is
// then dropped) and returns them oldest first. A missing live file is not
// an error: the container may not have written yet.
func openLogFiles(path string) ([]*logFile, error) {
	var newestFirst []*logFile
	closeAll := func() {
		for _, f := range newestFirst {
			f.f.Close()
		}
	}
	for i := 0; ; i++ {
		name := path
		if i > 0 {
			name = path + "." + strconv.Itoa(i)
		}
		f, err := os.Open(name)
		if errors.Is(err, os.ErrNotExist) {
			if i == 0 {
				continue // no live file yet; rotated ones may still exist
			}
			break
		}
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("open log: %w", err)
		}
		info, err := f.Stat()
		if err != nil {
			f.Close()
			closeAll()
			return nil, fmt.Errorf("open log: %w", err)
		}
		dup := false
		for _, o := range newestFirst {
			if os.SameFile(o.info, info) {
				dup = true
			}
		}
		if dup {
			f.Close()
			continue
		}
		newestFirst = append(newestFirst, &logFile{f: f, info: info, live: i == 0})
	}
	out := make([]*logFile, 0, len(newestFirst))
	for i := len(newestFirst) - 1; i >= 0; i-- {
		out = append(out, newestFirst[i])
	}
	return out, nil
}

// setStarts positions every file for --tail: the last Tail lines, taken
// from the newest file back into older ones as needed.
func (r *reader) setStarts(files []*logFile) error {
	need := r.opts.Tail
	for i := len(files) - 1; i >= 0; i-- {
		f := files[i]
		size := f.info.Size()
		switch {
		case need < 0:
			f.start = 0
		case need == 0:
			f.start = size
		default:
			off, got, err := tailStart(f.f, size, need)
			if err != nil {
				return err
			}
			f.start = off
			need -= got
		}
		if _, err := f.f.Seek(f.start, io.SeekStart); err != nil {
			return fmt.Errorf("read log: %w", err)
		}
		f.lr = newLineReader(f.f, f.start)
	}
	return nil
}

// tailStart finds where the last n lines of f begin, reading backwards in
// blocks. It returns that offset and how many lines it found (fewer than n
// when the file is shorter).
func tailStart(f *os.File, size int64, n int) (int64, int, error) {
	if size == 0 {
		return 0, 0, nil
	}
	buf := make([]byte, tailBlockSize)
	pos, count, last := size, 0, true
	for pos > 0 {
		chunk := min(int64(len(buf)), pos)
		pos -= chunk
		b := buf[:chunk]
		if _, err := f.ReadAt(b, pos); err != nil && !errors.Is(err, io.EOF) {
			return 0, 0, fmt.Errorf("tail log: %w", err)
		}
		if last {
			// The final newline ends the last line; it starts none.
			if b[len(b)-1] == '\n' {
				b = b[:len(b)-1]
			}
			last = false
		}
		for {
			i := bytes.LastIndexByte(b, '\n')
			if i < 0 {
				break
			}
			count++
			if count == n {
				return pos + int64(i) + 1, n, nil
			}
			b = b[:i]
		}
	}
	return 0, count + 1, nil
}

// reader carries one Read's options, callback and decoding state.
type reader struct {
	opts ReadOptions
	fn   func(Entry) error
	dec  decoder
}

// drain sends every complete line of f from where it stands. With final,
// an unterminated last line is decoded too (the file will not grow).
func (r *reader) drain(f *logFile, final bool) error {
	for {
		line, err := f.lr.next()
		if errors.Is(err, io.EOF) {
			if final {
				if rest := f.lr.rest(); len(rest) > 0 {
					f.lr.discardRest()
					return r.handle(rest)
				}
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("read log: %w", err)
		}
		if err := r.handle(line); err != nil {
			return err
		}
	}
}

// handle decodes one line and passes it on if it matches.
func (r *reader) handle(line []byte) error {
	var e Entry
	if err := r.dec.decode(line, &e); err != nil {
		return nil // a damaged line must not hide the rest of the log
	}
	switch e.Stream {
	case "stdout":
		if !r.opts.Stdout {
			return nil
		}
	case "stderr":
		if !r.opts.Stderr {
			return nil
		}
	}
	if !r.opts.Since.IsZero() && e.Time.Before(r.opts.Since) {
		return nil
	}
	if !r.opts.Until.IsZero() && e.Time.After(r.opts.Until) {
		return errUntil
	}
	return r.fn(e)
}

// follow reads the live file as it grows, switching to the new file when
// it is rotated, until ctx is done or stop is closed.
func (r *reader) follow(ctx context.Context, w *fsnotify.Watcher, path string, live *logFile, stop <-chan struct{}) error {
	// The live file from openLogFiles is closed by Read; follow owns only
	// the files it opens itself.
	owned := false
	defer func() {
		if owned && live != nil {
			live.f.Close()
		}
	}()
	check := func(final bool) error {
		var err error
		live, owned, err = r.catchUp(path, live, owned, final)
		return err
	}
	// Anything that happened between opening and watching is picked up now.
	if err := check(false); err != nil {
		return err
	}
	for {
		if r.opts.Idle != nil {
			if err := r.opts.Idle(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return check(true)
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("follow log: watcher closed")
			}
			if ev.Name != path {
				continue
			}
			if err := check(false); err != nil {
				return err
			}
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("follow log: watcher closed")
			}
			return fmt.Errorf("follow log: %w", err)
		}
	}
}

// catchUp reads live to its end, then looks at path: a different file there
// means live was rotated away (drain it completely and move on to the new
// one); no file means the new one is not created yet; a file shorter than
// what was read means it was truncated (start again from 0).
func (r *reader) catchUp(path string, live *logFile, owned, final bool) (*logFile, bool, error) {
	if live != nil {
		if err := r.drain(live, false); err != nil {
			return live, owned, err
		}
		if info, err := live.f.Stat(); err == nil && info.Size() < live.lr.pos {
			if _, err := live.f.Seek(0, io.SeekStart); err != nil {
				return live, owned, fmt.Errorf("read log: %w", err)
			}
			live.lr = newLineReader(live.f, 0)
			if err := r.drain(live, false); err != nil {
				return live, owned, err
			}
		}
	}
	info, err := os.Stat(path)
	switch {
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return live, owned, fmt.Errorf("follow log: %w", err)
	case err == nil && (live == nil || !os.SameFile(info, live.info)):
		if live != nil {
			if err := r.drain(live, true); err != nil {
				return live, owned, err
			}
			if owned {
				live.f.Close()
			}
		}
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, false, nil // rotated again already; the next event brings it
		}
		if err != nil {
			return nil, false, fmt.Errorf("follow log: %w", err)
		}
		if info, err = f.Stat(); err != nil {
			f.Close()
			return nil, false, fmt.Errorf("follow log: %w", err)
		}
		live, owned = &logFile{f: f, info: info, live: true, lr: newLineReader(f, 0)}, true
		if err := r.drain(live, final); err != nil {
			return live, owned, err
		}
	case err != nil && live != nil:
		// Renamed away and the new file is not there yet.
		if err := r.drain(live, true); err != nil {
			return live, owned, err
		}
		if owned {
			live.f.Close()
		}
		return nil, false, nil
	case final && live != nil:
		return live, owned, r.drain(live, true)
	}
	return live, owned, nil
}

// lineReader splits a file into lines with one reusable buffer, keeping an
// unterminated tail for the next read (the writer may be mid-line).
type lineReader struct {
	f    *os.File
	buf  []byte
	r, w int   // unread data is buf[r:w]
	pos  int64 // file offset of buf[w]
}

func newLineReader(f *os.File, pos int64) *lineReader {
	return &lineReader{f: f, buf: make([]byte, readBufferSize), pos: pos}
}

// next returns the next complete line without its "\n", valid until the
// following call, or io.EOF when no complete line is left for now.
func (l *lineReader) next() ([]byte, error) {
	for {
		if i := bytes.IndexByte(l.buf[l.r:l.w], '\n'); i >= 0 {
			line := l.buf[l.r : l.r+i]
			l.r += i + 1
			return line, nil
		}
		if l.r > 0 {
			l.w = copy(l.buf, l.buf[l.r:l.w])
			l.r = 0
		}
		if l.w == len(l.buf) {
			l.buf = append(l.buf, make([]byte, len(l.buf))...)
		}
		n, err := l.f.Read(l.buf[l.w:])
		l.w += n
		l.pos += int64(n)
		if n == 0 {
			if err == nil || errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, err
		}
	}
}

// rest is the unterminated data after the last complete line.
func (l *lineReader) rest() []byte { return l.buf[l.r:l.w] }

func (l *lineReader) discardRest() { l.r = l.w }

// decoder turns one json-file line into an Entry. Its fast path reads the
// four known keys by hand into a reused buffer, with no allocation for the
// common entry; anything unusual (escaped keys, unknown keys, a time with
// an offset) goes through encoding/json.
type decoder struct {
	buf []byte
}

var (
	errSyntax = errors.New("json-file: malformed line")
	errSlow   = errors.New("json-file: needs the full decoder")
)

func (d *decoder) decode(line []byte, e *Entry) error {
	err := d.decodeFast(line, e)
	if errors.Is(err, errSlow) {
		return d.decodeSlow(line, e)
	}
	return err
}

func (d *decoder) decodeSlow(line []byte, e *Entry) error {
	var v struct {
		Log    string            `json:"log"`
		Stream string            `json:"stream"`
		Time   time.Time         `json:"time"`
		Attrs  map[string]string `json:"attrs"`
	}
	if err := json.Unmarshal(line, &v); err != nil {
		return err
	}
	d.buf = append(d.buf[:0], v.Log...)
	*e = Entry{Line: d.buf, Stream: v.Stream, Time: v.Time, Attrs: v.Attrs}
	return nil
}

func (d *decoder) decodeFast(line []byte, e *Entry) error {
	*e = Entry{}
	d.buf = d.buf[:0]
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return errSyntax
	}
	i++
	logStart, logEnd := 0, 0
	for first := true; ; first = false {
		i = skipSpace(line, i)
		if i >= len(line) {
			return errSyntax
		}
		if line[i] == '}' && first {
			break
		}
		key, j, err := rawString(line, i)
		if err != nil {
			return err
		}
		i = skipSpace(line, j)
		if i >= len(line) || line[i] != ':' {
			return errSyntax
		}
		i = skipSpace(line, i+1)
		switch string(key) {
		case "log":
			logStart = len(d.buf)
			if d.buf, i, err = appendString(d.buf, line, i); err != nil {
				return err
			}
			logEnd = len(d.buf)
		case "stream":
			var s []byte
			if s, i, err = rawString(line, i); err != nil {
				return err
			}
			switch string(s) {
			case "stdout":
				e.Stream = "stdout"
			case "stderr":
				e.Stream = "stderr"
			default:
				e.Stream = string(s)
			}
		case "time":
			var s []byte
			if s, i, err = rawString(line, i); err != nil {
				return err
			}
			if e.Time, err = parseTime(s); err != nil {
				return err
			}
		case "attrs":
			if e.Attrs, i, err = parseAttrs(line, i); err != nil {
				return err
			}
		default:
			return errSlow
		}
		i = skipSpace(line, i)
		if i >= len(line) {
			return errSyntax
		}
		if line[i] == ',' {
			i++
			continue
		}
		if line[i] == '}' {
			break
		}
		return errSyntax
	}
	e.Line = d.buf[logStart:logEnd]
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// rawString returns the bytes of the JSON string at b[i] when it has no
// escapes (keys, stream names, times), and the index after its closing
// quote; an escaped one is left to the full decoder.
func rawString(b []byte, i int) ([]byte, int, error) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, errSyntax
	}
	q := bytes.IndexByte(b[i+1:], '"')
	if q < 0 {
		return nil, 0, errSyntax
	}
	s := b[i+1 : i+1+q]
	if bytes.IndexByte(s, '\\') >= 0 {
		return nil, 0, errSlow
	}
	return s, i + 2 + q, nil
}

// appendString appends the unescaped JSON string at b[i] to dst and
// returns the index after its closing quote.
func appendString(dst, b []byte, i int) ([]byte, int, error) {
	if i >= len(b) || b[i] != '"' {
		return dst, 0, errSyntax
	}
	i++
	for {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return dst, 0, errSyntax
		}
		seg := b[i : i+q]
		bs := bytes.IndexByte(seg, '\\')
		if bs < 0 {
			return append(dst, seg...), i + q + 1, nil
		}
		dst = append(dst, seg[:bs]...)
		i += bs + 1 // the escaped character
		if i >= len(b) {
			return dst, 0, errSyntax
		}
		switch c := b[i]; c {
		case '"', '\\', '/':
			dst = append(dst, c)
		case 'n':
			dst = append(dst, '\n')
		case 't':
			dst = append(dst, '\t')
		case 'r':
			dst = append(dst, '\r')
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'u':
			r, ok := hex4(b, i+1)
			if !ok {
				return dst, 0, errSyntax
			}
			i += 4
			if utf16.IsSurrogate(r) {
				lo, ok := rune(-1), false
				if i+2 < len(b) && b[i+1] == '\\' && b[i+2] == 'u' {
					lo, ok = hex4(b, i+3)
				}
				if dec := utf16.DecodeRune(r, lo); ok && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, 0, errSyntax
		}
		i++
	}
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// parseAttrs reads the attrs object: string keys to string values.
func parseAttrs(b []byte, i int) (map[string]string, int, error) {
	if i >= len(b) || b[i] != '{' {
		return nil, 0, errSlow
	}
	attrs := map[string]string{}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return attrs, i + 1, nil
	}
	var k, v []byte
	for {
		var err error
		if k, i, err = appendString(k[:0], b, skipSpace(b, i)); err != nil {
			return nil, 0, err
		}
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != ':' {
			return nil, 0, errSyntax
		}
		if v, i, err = appendString(v[:0], b, skipSpace(b, i+1)); err != nil {
			return nil, 0, errSlow // not a string: let encoding/json judge
		}
		attrs[string(k)] = string(v)
		i = skipSpace(b, i)
		if i >= len(b) {
			return nil, 0, errSyntax
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			return attrs, i + 1, nil
		default:
			return nil, 0, errSyntax
		}
	}
}

// parseTime reads the writer's UTC RFC 3339 times
// ("2006-01-02T15:04:05.999999999Z") without allocating; other forms go to
// time.Parse.
func parseTime(b []byte) (time.Time, error) {
	num := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	if len(b) >= 20 && b[4] == '-' && b[7] == '-' && b[10] == 'T' && b[13] == ':' && b[16] == ':' && b[len(b)-1] == 'Z' {
		year, ok1 := num(b[0:4])
		month, ok2 := num(b[5:7])
		day, ok3 := num(b[8:10])
		hour, ok4 := num(b[11:13])
		minute, ok5 := num(b[14:16])
		sec, ok6 := num(b[17:19])
		nsec, digits, ok := 0, 0, true
		if i := 19; i < len(b)-1 {
			ok = b[i] == '.' && i+1 < len(b)-1
			for i++; ok && i < len(b)-1; i++ {
				c := b[i]
				if c < '0' || c > '9' {
					ok = false
					break
				}
				if digits < 9 {
					nsec = nsec*10 + int(c-'0')
					digits++
				}
			}
			for ; digits < 9; digits++ {
				nsec *= 10
			}
		}
		if ok && ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour < 24 && minute < 60 && sec < 60 {
			return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), nil
		}
	}
	return time.Parse(time.RFC3339Nano, string(b))
}
