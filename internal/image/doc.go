// Package image is Docker's image model over containerd's stores, embedded
// in berthd: blobs in a local content store, image records and leases in
// containerd's metadata database (namespace "berth"), layers unpacked into
// overlayfs (or native, for vfs) snapshots. It owns image IDs (the config
// digest), names and tags, history, import, save and load, removal and
// prune, and the writable snapshot that each container's root file system
// is mounted from.
//
// Garbage collection is explicit: records hold manifests, manifests hold
// their config and layers (gc.ref labels), configs hold their snapshot
// chain, container snapshots carry a gc.root label, and in-flight imports
// hold a lease. Removals run the collector before they return.
package image
