package shim

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// socketPair returns the shim's end and the client's end of a connection.
func socketPair(t *testing.T) (shimEnd, clientEnd *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := os.NewFile(uintptr(fds[0]), "shim"), os.NewFile(uintptr(fds[1]), "client")
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return a, b
}

// TestOutputSlowClient: clients that stop reading are dropped after the
// stall time; the others get every byte, in order.
func TestOutputSlowClient(t *testing.T) {
	o := newOutput(false)
	o.stall = 50 * time.Millisecond
	fastShim, fastClient := socketPair(t)
	slowShim, slowClient := socketPair(t)
	slow2Shim, _ := socketPair(t)
	o.add(fastShim, true, true, nil)
	o.add(slowShim, true, true, nil)
	o.add(slow2Shim, true, false, nil)

	const chunks = 200 // 6.4 MiB: more than the queue and socket buffers
	var want bytes.Buffer
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(fastClient)
		got <- b
	}()
	start := time.Now()
	for i := range chunks {
		data := bytes.Repeat([]byte{byte('a' + i%26)}, readChunk)
		want.Write(data)
		stream := byte(streamStdout)
		if i%2 == 1 {
			stream = streamStderr
		}
		o.broadcast(stream, data)
	}
	o.finish()
	o.wait()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("broadcast took %v", d)
	}

	// The fast client got every chunk framed.
	var out bytes.Buffer
	r := bytes.NewReader(<-got)
	var hdr [8]byte
	for i := 0; ; i++ {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			break
		}
		wantStream := byte(streamStdout + i%2)
		if hdr[0] != wantStream {
			t.Fatalf("frame %d on stream %d, want %d", i, hdr[0], wantStream)
		}
		io.CopyN(&out, r, int64(binary.BigEndian.Uint32(hdr[4:])))
	}
	if !bytes.Equal(out.Bytes(), want.Bytes()) {
		t.Fatalf("fast client got %d bytes, want %d", out.Len(), want.Len())
	}
	// The slow client was cut off: its stream ends early.
	slowClient.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(slowClient)
	if err != nil {
		t.Fatalf("slow client: %v", err)
	}
	if len(b) >= want.Len() {
		t.Fatalf("slow client got everything (%d bytes)", len(b))
	}
}

// TestOutputTTYRaw: with a terminal, output is raw and a late client is
// closed at once after the end.
func TestOutputTTYRaw(t *testing.T) {
	o := newOutput(true)
	shimEnd, clientEnd := socketPair(t)
	o.add(shimEnd, true, false, nil)
	o.broadcast(streamStdout, []byte("hello"))
	o.finish()
	o.wait()
	b, err := io.ReadAll(clientEnd)
	if err != nil || string(b) != "hello" {
		t.Fatalf("got %q, %v", b, err)
	}
	lateShim, lateClient := socketPair(t)
	o.add(lateShim, true, true, nil)
	o.wait()
	if b, err := io.ReadAll(lateClient); err != nil || len(b) != 0 {
		t.Fatalf("late client got %q, %v", b, err)
	}
}
