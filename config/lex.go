package config

import "strings"

// token is one word of a line. quote is the quote character that enclosed
// it (a double or single quote), or 0 for a bare word; text never
// includes the quotes.
type token struct {
	text  string
	quote byte
}

// isStruct reports whether the token is the bare structural word w. A quoted
// "{" or "=" is a value, not syntax, which lets the writer emit any name.
func (t token) isStruct(w string) bool { return t.quote == 0 && t.text == w }

// srcLine is a non-blank, non-comment line split into tokens.
type srcLine struct {
	num  int
	toks []token
}

// isBlank matches C's isblank, which Piranha's tokenizer used: only space
// and tab separate tokens.
func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// splitLines cuts src at LF, CRLF and lone CR. Piranha ended a line at
// either character; counting CRLF once keeps line numbers right for files
// edited on Windows.
func splitLines(src []byte) []string {
	var lines []string
	start := 0
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '\n':
			lines = append(lines, string(src[start:i]))
			start = i + 1
		case '\r':
			lines = append(lines, string(src[start:i]))
			if i+1 < len(src) && src[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	if start < len(src) {
		lines = append(lines, string(src[start:]))
	}
	return lines
}

// tokenize splits one line. A token that starts with a quote runs to the
// next quote of the same kind, blanks included; there are no escapes, as in
// Piranha, so a value can hold the other kind of quote but not its own. A
// closing quote glued to more text is a mismatch too: Piranha misread such
// lines, and rejecting them is safer than guessing.
func tokenize(s string) ([]token, bool) {
	var toks []token
	i := 0
	for {
		for i < len(s) && isBlank(s[i]) {
			i++
		}
		if i >= len(s) {
			return toks, true
		}
		if q := s[i]; q == '"' || q == '\'' {
			end := strings.IndexByte(s[i+1:], q)
			if end < 0 {
				return toks, false
			}
			toks = append(toks, token{text: s[i+1 : i+1+end], quote: q})
			i += end + 2
			if i < len(s) && !isBlank(s[i]) {
				return toks, false
			}
			continue
		}
		j := i
		for j < len(s) && !isBlank(s[j]) {
			j++
		}
		toks = append(toks, token{text: s[i:j]})
		i = j
	}
}
