package config

import (
	"fmt"
	"strings"
)

// A layout is the text of an lvs.cf as the operator wrote it, cut into
// lines and blocks: what Edit needs to change a value on the line that
// holds it and leave every other byte alone. It knows the grammar's
// structure (blocks, keywords, comments) and nothing of the keywords'
// meaning, which stays with the parser.

// lineKind tells what a line of the file is.
type lineKind uint8

const (
	lineOther lineKind = iota // blank, comment
	lineKey                   // keyword = value
	lineOpen                  // virtual, failover or server NAME {
	lineClose                 // }
)

type layoutLine struct {
	body    string // without its terminator
	eol     string // "\n", "\r\n", "\r" or "" for a last line without one
	kind    lineKind
	indent  string
	key     string // of a lineKey
	block   int    // the block a lineKey belongs to, or the one a lineOpen or lineClose opens or closes
	comment bool
}

// layoutBlock is the global section, a virtual or failover block or a
// server block.
type layoutBlock struct {
	id          string // "" for the global section; see blockID
	kind, name  string
	parent      int
	open, close int              // line indices; -1 for the global section
	keys        map[string][]int // the lines of each keyword, in order
	lastKey     int              // the last keyword line, -1 if none
	children    []int            // server blocks, in order
}

type layout struct {
	lines  []layoutLine
	blocks []*layoutBlock
	byID   map[string]int
	eol    string
}

// blockID names a block by its kind and name and its parent's: servers are
// told apart within their virtual block, failover blocks from virtual ones.
func blockID(parent, kind, name string) string {
	if parent == "" {
		return kind + "\x00" + name
	}
	return parent + "\x00" + kind + "\x00" + name
}

// rawLines cuts src as splitLines does, at LF, CRLF and lone CR, keeping
// each line's terminator.
func rawLines(src []byte) (bodies, eols []string) {
	start := 0
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '\n':
			bodies, eols = append(bodies, string(src[start:i])), append(eols, "\n")
			start = i + 1
		case '\r':
			body := string(src[start:i])
			if i+1 < len(src) && src[i+1] == '\n' {
				bodies, eols = append(bodies, body), append(eols, "\r\n")
				i++
			} else {
				bodies, eols = append(bodies, body), append(eols, "\r")
			}
			start = i + 1
		}
	}
	if start < len(src) {
		bodies, eols = append(bodies, string(src[start:])), append(eols, "")
	}
	return bodies, eols
}

// scanLayout reads the structure of src, which must be a file Parse
// accepts; anything it cannot place is an error, and Edit then falls back
// to writing the file anew.
func scanLayout(src []byte) (*layout, error) {
	bodies, eols := rawLines(src)
	l := &layout{byID: map[string]int{}, eol: "\n"}
	if len(eols) > 0 && eols[0] != "" {
		l.eol = eols[0]
	}
	l.blocks = []*layoutBlock{{open: -1, close: -1, lastKey: -1, parent: -1, keys: map[string][]int{}}}
	stack := []int{0}
	for i, body := range bodies {
		ln := layoutLine{body: body, eol: eols[i]}
		trimmed := strings.TrimLeft(body, " \t")
		ln.indent = body[:len(body)-len(trimmed)]
		top := stack[len(stack)-1]
		switch {
		case trimmed == "":
		case trimmed[0] == '#':
			ln.comment = true
		default:
			toks, ok := tokenize(trimmed)
			if !ok {
				return nil, fmt.Errorf("line %d: quotation mismatch", i+1)
			}
			switch first := toks[0]; {
			case first.isStruct("}"):
				if len(stack) == 1 {
					return nil, fmt.Errorf("line %d: \"}\" without an open block", i+1)
				}
				ln.kind, ln.block = lineClose, top
				l.blocks[top].close = i
				stack = stack[:len(stack)-1]
			case first.quote == 0 && (first.text == "virtual" || first.text == "failover" || first.text == "server"):
				if len(toks) != 3 || !toks[2].isStruct("{") {
					return nil, fmt.Errorf("line %d: malformed %s block", i+1, first.text)
				}
				parent := 0
				if first.text == "server" {
					if len(stack) != 2 {
						return nil, fmt.Errorf("line %d: server block outside a virtual block", i+1)
					}
					parent = top
				} else if len(stack) != 1 {
					return nil, fmt.Errorf("line %d: nested %s block", i+1, first.text)
				}
				b := &layoutBlock{kind: first.text, name: toks[1].text, parent: parent, open: i, close: -1,
					lastKey: -1, keys: map[string][]int{}}
				b.id = blockID(l.blocks[parent].id, b.kind, b.name)
				if _, dup := l.byID[b.id]; dup {
					return nil, fmt.Errorf("line %d: %s %q appears twice", i+1, b.kind, b.name)
				}
				n := len(l.blocks)
				l.blocks = append(l.blocks, b)
				l.byID[b.id] = n
				if parent != 0 {
					l.blocks[parent].children = append(l.blocks[parent].children, n)
				}
				ln.kind, ln.block = lineOpen, n
				stack = append(stack, n)
			default:
				b := l.blocks[top]
				ln.kind, ln.key, ln.block = lineKey, first.text, top
				b.keys[first.text] = append(b.keys[first.text], i)
				b.lastKey = i
			}
		}
		l.lines = append(l.lines, ln)
	}
	if len(stack) != 1 {
		return nil, fmt.Errorf("a block is not closed")
	}
	return l, nil
}

// value is the text of a keyword line after its "=", as written.
func (ln *layoutLine) value() string {
	_, v, _ := ln.split()
	return v
}

// split cuts a keyword line into what precedes its value (indent, keyword,
// "=" and the blanks around it), the value, and whether it has the "=".
func (ln *layoutLine) split() (prefix, value string, ok bool) {
	s := ln.body
	i := len(ln.indent) + len(ln.key)
	for i < len(s) && isBlank(s[i]) {
		i++
	}
	if i >= len(s) || s[i] != '=' {
		return s, "", false
	}
	i++
	for i < len(s) && isBlank(s[i]) {
		i++
	}
	return s[:i], s[i:], true
}

// services lists the virtual blocks, in order.
func (l *layout) services() []int {
	var out []int
	for i, b := range l.blocks {
		if b.kind == "virtual" {
			out = append(out, i)
		}
	}
	return out
}

// lastValue is the value a block's keyword has in the file: that of its
// last line, as the parser lets the last one win.
func (l *layout) lastValue(b *layoutBlock, key string) (string, bool) {
	lines := b.keys[key]
	if len(lines) == 0 {
		return "", false
	}
	return l.lines[lines[len(lines)-1]].value(), true
}
