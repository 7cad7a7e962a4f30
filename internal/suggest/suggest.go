// Package suggest finds what a mistyped word was meant to be: a keyword
// of lvs.cf, a command, a flag. The distance is go-edlib's optimal string
// alignment (a swap of two letters is one edit); the rule for how far is
// still a typo is govs's, shared so that every surface suggests alike.
package suggest

import (
	"strings"

	"github.com/hbollon/go-edlib"
)

// Closest returns the candidate word is most likely a typo of: one edit
// away (for words of three letters or more); else the one candidate word is a prefix of (three letters at
// least); else, for words of five letters or more, two edits away. Ties
// go to the earlier candidate.
func Closest(word string, candidates []string) (string, bool) {
	best, bestD := "", 3
	limit := 2
	switch {
	case len(word) <= 2:
		// Every short word is one edit from every other.
		limit = 0
	case len(word) <= 4:
		limit = 1
	}
	var prefixed []string
	for _, c := range candidates {
		if c == word {
			return c, true
		}
		if len(word) >= 3 && strings.HasPrefix(c, word) {
			prefixed = append(prefixed, c)
		}
		if d := edlib.OSADamerauLevenshteinDistance(word, c); d <= limit && d < bestD {
			best, bestD = c, d
		}
	}
	switch {
	case best != "" && bestD <= 1:
		return best, true
	case len(prefixed) == 1:
		return prefixed[0], true
	}
	return best, best != ""
}

// Hint is " (did you mean X?)" for the closest candidate, or "".
func Hint(word string, candidates []string) string {
	if c, ok := Closest(word, candidates); ok && c != word {
		return " (did you mean " + quote(c) + "?)"
	}
	return ""
}

func quote(s string) string { return `"` + s + `"` }
