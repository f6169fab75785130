// Package opts provides the pflag.Value types berth's commands share, named
// as Docker names them in help output ("list", "map", "filter", "bytes",
// "decimal", "ulimit", "mount"), and the parsers for env files and label
// files. It knows nothing about cobra or the API client.
package opts
