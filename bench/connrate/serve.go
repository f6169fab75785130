package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// response is the one answer the server gives: HTTP/1.0, a fixed 3-byte
// body, and the connection closed after it (the client reads to EOF).
const response = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nhi\n"

// maxRequest bounds what the server reads of a request before answering.
const maxRequest = 8 << 10

// serve accepts on ln until ctx ends, answering each connection in a
// goroutine of its own: read the request head (to the blank line, at most
// maxRequest bytes, within timeout), write response, close. Closing after the
// whole head is read means the close is a FIN, not a reset for unread data.
// It returns nil when ctx ended it, after the connections in flight finish.
func serve(ctx context.Context, ln net.Listener, timeout time.Duration) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		wg.Go(func() { answer(conn, timeout) })
	}
}

func answer(conn net.Conn, timeout time.Duration) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	buf := make([]byte, 0, 1024)
	tmp := make([]byte, 1024)
	for !bytes.Contains(buf, []byte("\r\n\r\n")) && !bytes.Contains(buf, []byte("\n\n")) {
		n, err := conn.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if err != nil || len(buf) > maxRequest {
			return
		}
	}
	_, _ = conn.Write([]byte(response))
}
