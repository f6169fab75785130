package jsonfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// WriterMaxLine is the longest piece of a line one entry holds. dockerd's log
// copier reads with a 16 KiB buffer and logs a full buffer without a newline
// as a partial entry; longer lines are therefore split into 16 KiB entries.
const WriterMaxLine = 16 * 1024

// WriterOptions are the json-file driver's rotation options.
type WriterOptions struct {
	// MaxSize is the size in bytes at which the live file is rotated
	// ("max-size"); 0 or less means never.
	MaxSize int64
	// MaxFiles is how many files are kept in all, the live one included
	// ("max-file"); less than 1 means 1.
	MaxFiles int
}

// Writer appends entries to a json-file log and rotates it. Entries are
// buffered in memory and written out by Flush; WriterStream flushes after
// every Write, so each chunk read from a container reaches the file (not the
// disk: there is no fsync) before the next one is read. A Writer is safe for
// concurrent use.
//
// Rotation follows dockerd: before an entry is written, a live file that has
// reached MaxSize is renamed to <path>.1, <path>.1 to <path>.2 and so on,
// dropping the oldest so that MaxFiles files remain, and a new live file is
// started. With MaxFiles 1 the live file is truncated instead.
type Writer struct {
	path string
	opts WriterOptions

	mu   sync.Mutex
	f    *os.File      // guarded by mu; nil once closed
	buf  *bufio.Writer // guarded by mu
	size int64         // guarded by mu: bytes in the live file, buffered ones included
	line []byte        // guarded by mu: scratch space for one encoded entry
}

// NewWriter opens (creating it if needed) the log at path for appending.
func NewWriter(path string, opts WriterOptions) (*Writer, error) {
	if opts.MaxFiles < 1 {
		opts.MaxFiles = 1
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open log: %w", err)
	}
	return &Writer{
		path: path,
		opts: opts,
		f:    f,
		buf:  bufio.NewWriterSize(f, 32*1024),
		size: st.Size(),
	}, nil
}

// WriteEntry buffers one entry. line is written as given: the caller splits
// lines (WriterStream does).
func (w *Writer) WriteEntry(stream string, line []byte, t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writeEntryLocked(stream, line, t)
}

func (w *Writer) writeEntryLocked(stream string, line []byte, t time.Time) error {
	if w.f == nil {
		return os.ErrClosed
	}
	if w.opts.MaxSize > 0 && w.size >= w.opts.MaxSize {
		if err := w.rotateLocked(); err != nil {
			return err
		}
	}
	b := w.line[:0]
	b = append(b, `{"log":`...)
	b = writerAppendString(b, line)
	b = append(b, `,"stream":`...)
	b = writerAppendString(b, []byte(stream))
	b = append(b, `,"time":"`...)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, "\"}\n"...)
	w.line = b
	n, err := w.buf.Write(b)
	w.size += int64(n)
	return err
}

// rotateLocked moves the live file aside and starts a new one.
func (w *Writer) rotateLocked() error {
	if err := w.buf.Flush(); err != nil {
		return err
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	w.f = nil
	if w.opts.MaxFiles > 1 {
		for i := w.opts.MaxFiles - 1; i > 1; i-- {
			err := os.Rename(w.path+"."+strconv.Itoa(i-1), w.path+"."+strconv.Itoa(i))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("rotate log: %w", err)
			}
		}
		if err := os.Rename(w.path, w.path+".1"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate log: %w", err)
		}
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	w.f = f
	w.buf.Reset(f)
	w.size = 0
	return nil
}

// Flush writes buffered entries to the file.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return os.ErrClosed
	}
	return w.buf.Flush()
}

// Close flushes and closes the log. It does not end partial lines held by
// WriterStreams: close those first.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return os.ErrClosed
	}
	err := w.buf.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	return err
}

// Stream returns an io.WriteCloser that turns the bytes of one output stream
// ("stdout" or "stderr") into entries.
func (w *Writer) Stream(name string) *WriterStream {
	return &WriterStream{w: w, name: name}
}

// WriterStream splits one stream's bytes into lines the way dockerd's log
// copier does: every '\n'-terminated line is an entry; bytes after the last
// newline are held until the newline comes, until WriterMaxLine bytes are
// held (then they are written as a partial entry), or until Close. Each Write
// ends with a Flush. Not safe for concurrent use; different streams of one
// Writer may be written concurrently.
type WriterStream struct {
	w       *Writer
	name    string
	pending []byte // start of a line not yet ended by '\n'
	now     func() time.Time
}

// Write logs p, which is typically what one read of the stream returned.
func (s *WriterStream) Write(p []byte) (int, error) {
	n := len(p)
	t := s.time()
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			// No newline: hold the bytes, writing out full pieces.
			room := WriterMaxLine - len(s.pending)
			if len(p) < room {
				s.pending = append(s.pending, p...)
				break
			}
			if err := s.entryLocked(p[:room], t); err != nil {
				return 0, err
			}
			p = p[room:]
			continue
		}
		line := p[:i+1]
		for len(s.pending)+len(line) > WriterMaxLine {
			room := WriterMaxLine - len(s.pending)
			if err := s.entryLocked(line[:room], t); err != nil {
				return 0, err
			}
			line = line[room:]
		}
		if err := s.entryLocked(line, t); err != nil {
			return 0, err
		}
		p = p[i+1:]
	}
	if s.w.f == nil {
		return 0, os.ErrClosed
	}
	if err := s.w.buf.Flush(); err != nil {
		return 0, err
	}
	return n, nil
}

// entryLocked writes pending+b as one entry and empties pending.
func (s *WriterStream) entryLocked(b []byte, t time.Time) error {
	if len(s.pending) > 0 {
		b = append(s.pending, b...)
	}
	s.pending = s.pending[:0]
	return s.w.writeEntryLocked(s.name, b, t)
}

// Close writes out a held partial line and flushes; it leaves the Writer
// open.
func (s *WriterStream) Close() error {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	if len(s.pending) > 0 {
		if err := s.entryLocked(nil, s.time()); err != nil {
			return err
		}
	}
	if s.w.f == nil {
		return os.ErrClosed
	}
	return s.w.buf.Flush()
}

func (s *WriterStream) time() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

const writerHex = "0123456789abcdef"

// writerAppendString appends s as a JSON string the way encoding/json (and
// dockerd's jsonlog) encode it: HTML-safe (<, >, & escaped), U+2028 and
// U+2029 escaped, invalid UTF-8 replaced by U+FFFD.
func writerAppendString(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', writerHex[c>>4], writerHex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', writerHex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
