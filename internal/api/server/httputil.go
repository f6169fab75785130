package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"berth/internal/errdefs"
)

type versionKey struct{}

func withVersion(ctx context.Context, v string) context.Context {
	return context.WithValue(ctx, versionKey{}, v)
}

// VersionFromContext is the API version of the request (MaxAPIVersion when
// the client sent a bare path).
func VersionFromContext(ctx context.Context) string {
	if v, ok := ctx.Value(versionKey{}).(string); ok {
		return v
	}
	return MaxAPIVersion
}

// VersionLess reports whether API version a is older than b ("1.24" < "1.50").
func VersionLess(a, b string) bool {
	am, an := splitVersion(a)
	bm, bn := splitVersion(b)
	if am != bm {
		return am < bm
	}
	return an < bn
}

func splitVersion(v string) (int, int) {
	maj, min, _ := strings.Cut(v, ".")
	a, _ := strconv.Atoi(maj)
	b, _ := strconv.Atoi(min)
	return a, b
}

// WriteJSON encodes v as the response body with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// ReadJSON decodes the request body into v. An empty body leaves v as it is;
// malformed JSON is the caller's mistake (400), worded as Docker words it.
func ReadJSON(r *http.Request, v any) error {
	if r.Body == nil {
		return nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") && r.ContentLength != 0 {
		return errdefs.Invalid(fmt.Errorf("unsupported Content-Type header (%s): must be 'application/json'", ct))
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return errdefs.Invalid(fmt.Errorf("invalid JSON: %w", err))
	}
	return nil
}

// BoolValue reads a boolean query parameter the way Docker does: absent,
// "", "0", "no", "false" and "none" are false; anything else is true.
func BoolValue(r *http.Request, key string) bool {
	s := strings.ToLower(strings.TrimSpace(r.FormValue(key)))
	return !(s == "" || s == "0" || s == "no" || s == "false" || s == "none")
}

// BoolValueOrDefault is BoolValue with a default for an absent parameter.
func BoolValueOrDefault(r *http.Request, key string, def bool) bool {
	if _, ok := r.Form[key]; !ok && r.URL.Query().Get(key) == "" {
		if !r.URL.Query().Has(key) {
			return def
		}
	}
	return BoolValue(r, key)
}

// Int64Value reads an integer query parameter; absent means def.
func Int64Value(r *http.Request, key string, def int64) (int64, error) {
	s := r.FormValue(key)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errdefs.Invalid(fmt.Errorf("invalid value for %s: %q", key, s))
	}
	return n, nil
}

// Stream types for hijacked connections.
const (
	MediaRawStream         = "application/vnd.docker.raw-stream"
	MediaMultiplexedStream = "application/vnd.docker.multiplexed-stream"
)

// Hijack takes over the connection for attach and exec. When the client
// asked to upgrade (Connection: Upgrade, Upgrade: tcp) it answers 101,
// otherwise 200 with the stream's media type, exactly as dockerd does.
// The caller owns conn afterwards and must close it; buffered bytes the
// client already sent are in rw.Reader.
func Hijack(w http.ResponseWriter, r *http.Request, mediaType string) (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("connection cannot be hijacked")
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	upgrade := strings.EqualFold(r.Header.Get("Upgrade"), "tcp") && strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
	if upgrade {
		fmt.Fprintf(rw, "HTTP/1.1 101 UPGRADED\r\nContent-Type: %s\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n", mediaType)
	} else {
		fmt.Fprintf(rw, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n", mediaType)
	}
	fmt.Fprintf(rw, "Api-Version: %s\r\n\r\n", MaxAPIVersion)
	if err := rw.Flush(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, rw, nil
}

// FlushWriter flushes after every write so streamed JSON (events, logs,
// progress) reaches the client at once.
type FlushWriter struct {
	W http.ResponseWriter
}

func (f FlushWriter) Write(p []byte) (int, error) {
	n, err := f.W.Write(p)
	if fl, ok := f.W.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

// WriteJSONBody encodes v after the status has already been sent.
func WriteJSONBody(w http.ResponseWriter, v any) error {
	return json.NewEncoder(w).Encode(v)
}

type hijacked struct {
	r io.Reader
	w io.Writer
}

func (h hijacked) Read(p []byte) (int, error)  { return h.r.Read(p) }
func (h hijacked) Write(p []byte) (int, error) { return h.w.Write(p) }

// HijackedStream reads what the client sends (first the bytes net/http
// already buffered, then the connection itself) and writes straight to the
// connection. Reading past the buffer through net/http's reader would
// cancel the request's context when the client half-closes.
func HijackedStream(conn net.Conn, rw *bufio.ReadWriter) io.ReadWriter {
	buffered := io.LimitReader(rw.Reader, int64(rw.Reader.Buffered()))
	return hijacked{r: io.MultiReader(buffered, conn), w: conn}
}

// WriteStreamError reports an error on a hijacked stream, where no status
// can be sent any more: as dockerd does, the message goes out as the
// stream's own output (a stdout frame when multiplexed), followed by CRLF.
func WriteStreamError(w io.Writer, err error, multiplexed bool) {
	msg := []byte(err.Error() + "\r\n")
	if multiplexed {
		var hdr [8]byte
		hdr[0] = 1
		binary.BigEndian.PutUint32(hdr[4:], uint32(len(msg)))
		msg = append(hdr[:], msg...)
	}
	_, _ = w.Write(msg)
}
