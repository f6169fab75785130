// Package image implements berth's image commands: images / image ls,
// image inspect, tag, rmi, history, image prune, import, save, load, pull and
// push, with docker's flags, tables and messages. Registry credentials for
// pull and push come from the Docker CLI config (see package registry).
package image
