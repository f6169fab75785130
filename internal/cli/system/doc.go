// Package system implements version, info, events, system df, system prune
// and the generic inspect command, with docker's layouts.
package system
