// Package layer owns the mechanics of file-system layer streams: it opens a
// (possibly compressed) tar stream, and it checks the entries of layer tars
// and image archives so that nothing in them can name a path outside the
// directory it is unpacked into. Unpacking itself is done by containerd's
// applier; this package only decides whether a stream is acceptable.
package layer
