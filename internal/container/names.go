package container

import (
	"fmt"
	"math/rand/v2"
)

// Random names in Docker's adjective_surname form, from word lists of our
// own: surnames of people who shaped shipping and computing.
var (
	nameAdjectives = []string{
		"agile", "amber", "brave", "bright", "calm", "clever", "cosy", "crisp", "daring", "eager",
		"fancy", "gentle", "happy", "hardy", "honest", "jolly", "keen", "kind", "lively", "lucid",
		"merry", "modest", "nimble", "noble", "patient", "plucky", "proud", "quick", "quiet", "rapid",
		"ready", "serene", "sharp", "shiny", "steady", "sturdy", "swift", "tidy", "vivid", "witty",
	}
	nameSurnames = []string{
		"babbage", "backus", "bartik", "berners", "cerf", "codd", "dijkstra", "engelbart", "floyd", "hamilton",
		"hopper", "kahn", "kay", "knuth", "lamport", "liskov", "lovelace", "mccarthy", "mclean", "metcalfe",
		"moore", "naur", "noyce", "pike", "postel", "ritchie", "shannon", "sutherland", "thompson", "torvalds",
		"turing", "vonneumann", "wilkes", "wirth", "wozniak", "zuse", "allen", "goldberg", "hoare", "perlman",
	}
)

// randomName returns a name such as "brave_hopper"; after a collision
// (attempt > 0) a digit is appended, as Docker does.
func randomName(attempt int) string {
	n := nameAdjectives[rand.IntN(len(nameAdjectives))] + "_" + nameSurnames[rand.IntN(len(nameSurnames))]
	if attempt > 0 {
		n = fmt.Sprintf("%s%d", n, rand.IntN(10))
	}
	return n
}
