package shim

import (
	"encoding/binary"
	"io"
	"os"
	"sync"
	"time"
)

// Stream numbers of Docker's stdcopy framing: an 8-byte header (stream, three
// zero bytes, big-endian uint32 length) before each chunk.
const (
	streamStdout = 1
	streamStderr = 2
)

const (
	// clientQueue is how many chunks (each at most readChunk bytes) wait for
	// one attached client: up to 2 MiB per client.
	clientQueue = 64
	// clientStall is how long output waits for a client whose queue is full
	// before that client is dropped. Within it the container is slowed down
	// the way Docker's synchronous broadcaster slows it (so `run image cmd >
	// file` over a slower pipe loses nothing); past it a client that stopped
	// reading cannot hold the container, the log or other clients any longer.
	clientStall = 10 * time.Second
	// readChunk is the size of one read from a container's output.
	readChunk = 32 * 1024
	// drainTimeout bounds how long, after a process exited, the shim waits for
	// its output to reach EOF (a process outside the container's pid
	// namespace may keep the pipe open).
	drainTimeout = 2 * time.Second
	// flushTimeout bounds how long clients get to take the last output.
	flushTimeout = 5 * time.Second
)

// chunk is one read of output, shared by every client: frame is the stdcopy
// header followed by the data, so that a client writes it with one call;
// with a terminal only the data (frame[8:]) is sent.
type chunk struct {
	frame []byte
}

// client is one attached connection receiving output.
type client struct {
	conn           *os.File
	stdout, stderr bool
	tty            bool
	pre            []byte        // sent before any output
	ch             chan chunk    // closed by output.finish when output ended
	done           chan struct{} // closed when the client is dropped
	doneOnce       sync.Once
}

// drop cuts the client off: a write in progress fails at once and the
// writer closes the connection.
func (c *client) drop() {
	c.doneOnce.Do(func() {
		close(c.done)
		c.conn.SetWriteDeadline(time.Unix(1, 0))
	})
}

// write sends queued output to the connection until the output ends or the
// client is dropped, then closes the connection.
func (c *client) write() {
	defer c.conn.Close()
	if len(c.pre) > 0 {
		if _, err := c.conn.Write(c.pre); err != nil {
			c.drop()
			return
		}
	}
	for {
		select {
		case ck, ok := <-c.ch:
			if !ok {
				return
			}
			b := ck.frame
			if c.tty {
				b = b[8:]
			}
			if _, err := c.conn.Write(b); err != nil {
				c.drop()
				return
			}
		case <-c.done:
			return
		}
	}
}

// output fans one process's output out to its attached clients. Pumps
// (one per stream) call broadcast; when all have ended, finish closes every
// client after its queue is sent.
type output struct {
	tty   bool
	stall time.Duration // clientStall; shorter in tests

	mu      sync.Mutex
	clients map[*client]struct{} // guarded by mu
	ended   bool                 // guarded by mu: no more output will come
	writers sync.WaitGroup
}

func newOutput(tty bool) *output {
	return &output{tty: tty, stall: clientStall, clients: make(map[*client]struct{})}
}

// add attaches conn for the given streams and starts sending to it, first
// pre (the op's response line), so that the client is registered before
// the requester hears back: no output can slip between the two. After the
// output ended, conn is closed once pre is sent.
func (o *output) add(conn *os.File, stdout, stderr bool, pre []byte) *client {
	c := &client{
		conn: conn, stdout: stdout, stderr: stderr, tty: o.tty, pre: pre,
		ch: make(chan chunk, clientQueue), done: make(chan struct{}),
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ended {
		close(c.ch)
	} else {
		o.clients[c] = struct{}{}
	}
	o.writers.Add(1)
	go func() {
		defer o.writers.Done()
		c.write()
		o.mu.Lock()
		delete(o.clients, c)
		o.mu.Unlock()
	}()
	return c
}

// broadcast queues data for every client that wants stream. A client whose
// queue stays full for o.stall is dropped.
func (o *output) broadcast(stream byte, data []byte) {
	o.mu.Lock()
	if len(o.clients) == 0 {
		o.mu.Unlock()
		return
	}
	targets := make([]*client, 0, len(o.clients))
	for c := range o.clients {
		if (stream == streamStdout && c.stdout) || (stream == streamStderr && c.stderr) {
			targets = append(targets, c)
		}
	}
	o.mu.Unlock()
	if len(targets) == 0 {
		return
	}
	frame := make([]byte, 8+len(data))
	frame[0] = stream
	binary.BigEndian.PutUint32(frame[4:8], uint32(len(data)))
	copy(frame[8:], data)
	ck := chunk{frame: frame}
	// One stall budget per chunk: once spent, every client still full is
	// dropped without waiting again.
	var timer *time.Timer
	expired := false
	for _, c := range targets {
		select {
		case c.ch <- ck:
			continue
		case <-c.done:
			continue
		default:
		}
		if expired {
			c.drop()
			continue
		}
		if timer == nil {
			timer = time.NewTimer(o.stall)
			defer timer.Stop()
		}
		select {
		case c.ch <- ck:
		case <-c.done:
		case <-timer.C:
			expired = true
			c.drop()
		}
	}
}

// finish ends the output: clients get what is queued, then their connection
// closes. Call it once, after every pump has returned.
func (o *output) finish() {
	o.mu.Lock()
	o.ended = true
	for c := range o.clients {
		close(c.ch)
		select {
		case <-c.done: // dropped: its deadline has passed already
		default:
			c.conn.SetWriteDeadline(time.Now().Add(flushTimeout))
		}
	}
	o.mu.Unlock()
}

// wait returns once every client's connection is closed.
func (o *output) wait() { o.writers.Wait() }

// pump copies one output stream (a pipe or a pty master) to sink (the log,
// or nil) and to the attached clients until EOF.
func pump(r *os.File, stream byte, sink io.Writer, o *output) {
	buf := make([]byte, readChunk)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if sink != nil {
				// A log that cannot be written must not stop the output to
				// clients or block the container.
				sink.Write(buf[:n])
			}
			o.broadcast(stream, buf[:n])
		}
		if err != nil {
			// EOF, EIO from a pty master once every slave fd is closed, or
			// ErrClosed when the shim gave up waiting for the end.
			return
		}
	}
}
