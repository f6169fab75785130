package command

import (
	"errors"
	"io"
	"os"

	"github.com/moby/term"
)

// InStream is the CLI's standard input with its terminal state.
type InStream struct {
	io.ReadCloser
	fd         uintptr
	isTerminal bool
	state      *term.State
}

// NewInStream wraps in, detecting whether it is a terminal.
func NewInStream(in io.ReadCloser) *InStream {
	fd, isTerm := term.GetFdInfo(in)
	return &InStream{ReadCloser: in, fd: fd, isTerminal: isTerm}
}

// FD returns the file descriptor of the stream.
func (s *InStream) FD() uintptr { return s.fd }

// IsTerminal reports whether the stream is a terminal.
func (s *InStream) IsTerminal() bool { return s.isTerminal }

// SetRawTerminal puts the terminal in raw mode when it is one and
// NORAW is not set in the environment.
func (s *InStream) SetRawTerminal() error {
	if !s.isTerminal || os.Getenv("NORAW") != "" {
		return nil
	}
	st, err := term.SetRawTerminal(s.fd)
	if err != nil {
		return err
	}
	s.state = st
	return nil
}

// RestoreTerminal undoes SetRawTerminal.
func (s *InStream) RestoreTerminal() {
	if s.state != nil {
		_ = term.RestoreTerminal(s.fd, s.state)
		s.state = nil
	}
}

// CheckTty refuses to attach stdin to a TTY container when stdin is not a
// terminal, with Docker's message.
func (s *InStream) CheckTty(attachStdin, ttyMode bool) error {
	if ttyMode && attachStdin && !s.isTerminal {
		return errors.New("the input device is not a TTY")
	}
	return nil
}

// OutStream is a standard output or error stream with its terminal state.
type OutStream struct {
	io.Writer
	fd         uintptr
	isTerminal bool
	state      *term.State
}

// NewOutStream wraps out, detecting whether it is a terminal.
func NewOutStream(out io.Writer) *OutStream {
	fd, isTerm := term.GetFdInfo(out)
	return &OutStream{Writer: out, fd: fd, isTerminal: isTerm}
}

// FD returns the file descriptor of the stream.
func (s *OutStream) FD() uintptr { return s.fd }

// IsTerminal reports whether the stream is a terminal.
func (s *OutStream) IsTerminal() bool { return s.isTerminal }

// SetRawTerminal puts an output terminal in raw mode.
func (s *OutStream) SetRawTerminal() error {
	if !s.isTerminal || os.Getenv("NORAW") != "" {
		return nil
	}
	st, err := term.SetRawTerminalOutput(s.fd)
	if err != nil {
		return err
	}
	s.state = st
	return nil
}

// RestoreTerminal undoes SetRawTerminal.
func (s *OutStream) RestoreTerminal() {
	if s.state != nil {
		_ = term.RestoreTerminal(s.fd, s.state)
		s.state = nil
	}
}

// TtySize returns the terminal's height and width, or zeros.
func (s *OutStream) TtySize() (height, width uint) {
	if !s.isTerminal {
		return 0, 0
	}
	ws, err := term.GetWinsize(s.fd)
	if err != nil || ws == nil {
		return 0, 0
	}
	return uint(ws.Height), uint(ws.Width)
}
