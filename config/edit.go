package config

import (
	"bytes"
	"slices"
	"strings"

	"github.com/govs/govs/model"
)

// Edit turns src, the text of a file that describes from, into one that
// describes to, changing only the lines it must: a changed value is
// rewritten on its own line, in place, keeping the keyword's spacing; a
// keyword that now differs from its default is added after the last
// keyword of its block, in the block's indentation; a keyword set back to
// its default loses its line; a new server goes after its siblings in
// their style; a removed block takes its own comment lines with it.
// Comments, blank lines, order, spellings (port = http, hex values),
// explicit defaults and the keywords govs ignores stay as they were, so
// that an edit made in the web tool or the API reads, in a diff, like one
// made by hand.
//
// Whatever Edit produces is parsed again and must describe to exactly, as
// Write's output would; when it cannot keep the text (src does not
// describe from, as when the file was changed on disk since it was
// loaded), it returns Write's canonical text and says why in rewritten.
// err is set only when to cannot be written at all.
func Edit(src []byte, from, to *model.Config) (out []byte, rewritten string, err error) {
	var canonTo bytes.Buffer
	if err := Write(&canonTo, to); err != nil {
		return nil, "", err
	}
	var canonFrom bytes.Buffer
	if err := Write(&canonFrom, from); err != nil {
		return canonTo.Bytes(), "the running configuration cannot be written: " + err.Error(), nil
	}
	if !sameModel(src, canonFrom.Bytes()) {
		return canonTo.Bytes(), "the file no longer describes the running configuration", nil
	}
	e, err := newEditor(src, canonFrom.Bytes(), canonTo.Bytes())
	if err != nil {
		return canonTo.Bytes(), err.Error(), nil
	}
	e.run()
	out = e.assemble()
	if !sameModel(out, canonTo.Bytes()) {
		return canonTo.Bytes(), "the edit could not be made in place", nil
	}
	return out, "", nil
}

// sameModel reports whether src parses to the configuration canon, a
// Write output, describes.
func sameModel(src, canon []byte) bool {
	c, _, err := Parse("lvs.cf", src)
	if err != nil {
		return false
	}
	var b bytes.Buffer
	if err := Write(&b, c); err != nil {
		return false
	}
	return bytes.Equal(b.Bytes(), canon)
}

// editor holds the file's layout, those of the two canonical texts, and
// the changes, which are applied in one pass at the end so that line
// indices stay those of the original file.
type editor struct {
	f, from, to *layout
	repl        map[int]string   // line → its new body
	del         map[int]bool     // lines removed
	ins         map[int][]string // bodies inserted after a line (-1: at the top)
	unit        string           // one level of the file's indentation
}

func newEditor(src, from, to []byte) (*editor, error) {
	f, err := scanLayout(src)
	if err != nil {
		return nil, err
	}
	lf, err := scanLayout(from)
	if err != nil {
		return nil, err
	}
	lt, err := scanLayout(to)
	if err != nil {
		return nil, err
	}
	e := &editor{f: f, from: lf, to: lt, repl: map[int]string{}, del: map[int]bool{}, ins: map[int][]string{}, unit: "    "}
	for _, i := range f.services() {
		if b := f.blocks[i]; b.lastKey >= 0 {
			if in := f.lines[b.lastKey].indent; in != "" {
				e.unit = in
				break
			}
		}
	}
	return e, nil
}

func (e *editor) run() {
	e.keys(e.f.blocks[0], e.from.blocks[0], e.to.blocks[0])
	e.children(e.f.services(), e.from.services(), e.to.services(), e.f.blocks[0])
}

// children edits one level of blocks: the virtual blocks of the file
// (parent is the global section) or the server blocks of one of them.
// Blocks are matched by name; one that lost its name and one that gained
// one at the same position are the same block, renamed.
func (e *editor) children(file, from, to []int, parent *layoutBlock) {
	name := func(l *layout, i int) string { return l.blocks[i].name }
	fileByName := map[string]int{}
	for _, i := range file {
		fileByName[name(e.f, i)] = i
	}
	fromByName := map[string]int{}
	for _, i := range from {
		fromByName[name(e.from, i)] = i
	}
	toNames := map[string]bool{}
	for _, i := range to {
		toNames[name(e.to, i)] = true
	}
	// Renames: position by position among the blocks that exist only in
	// from and only in to.
	renamed := map[string]string{} // to name → from name
	for k := 0; k < len(from) && k < len(to); k++ {
		fn, tn := name(e.from, from[k]), name(e.to, to[k])
		if fn != tn && !toNames[fn] {
			if _, both := fromByName[tn]; !both {
				renamed[tn] = fn
			}
		}
	}
	kept := map[string]bool{}
	prev := -1 // the file block the next new one goes after
	for _, ti := range to {
		tb := e.to.blocks[ti]
		fromName := tb.name
		if old, ok := renamed[tb.name]; ok {
			fromName = old
		}
		fi, inFile := fileByName[fromName]
		oi, inFrom := fromByName[fromName]
		if inFile && inFrom {
			kept[fromName] = true
			fb := e.f.blocks[fi]
			if fromName != tb.name {
				e.repl[fb.open] = fb.kindIndent(e.f) + tb.kind + " " + e.to.lines[tb.open].openName() + " {"
			}
			e.keys(fb, e.from.blocks[oi], tb)
			if tb.kind == "virtual" {
				e.children(fb.children, e.from.blocks[oi].children, tb.children, fb)
			}
			prev = fi
			continue
		}
		e.insertBlock(tb, file, prev, parent)
	}
	for _, fi := range file {
		if !kept[name(e.f, fi)] {
			e.removeBlock(e.f.blocks[fi])
		}
	}
}

// keys edits the keyword lines of one block.
func (e *editor) keys(fb, from, to *layoutBlock) {
	seen := map[string]bool{}
	var order []string
	for _, lb := range []struct {
		l *layout
		b *layoutBlock
	}{{e.from, from}, {e.to, to}} {
		for _, i := range lb.b.keyLines() {
			if k := lb.l.lines[i].key; !seen[k] {
				seen[k] = true
				order = append(order, k)
			}
		}
	}
	for _, key := range order {
		ov, _ := e.from.lastValue(from, key)
		nv, has := e.to.lastValue(to, key)
		if ov == nv {
			continue
		}
		lines := fb.keys[key]
		switch {
		case len(lines) > 0 && has:
			last := lines[len(lines)-1]
			prefix, _, _ := e.f.lines[last].split()
			e.repl[last] = prefix + nv
		case len(lines) > 0:
			// Back to its default: the parser lets the last line win, so
			// every line of the keyword goes.
			for _, i := range lines {
				e.del[i] = true
			}
		case has:
			after := fb.lastKey
			if after < 0 {
				after = fb.open
			}
			e.ins[after] = append(e.ins[after], e.keyIndent(fb)+key+" = "+nv)
		}
	}
}

// keyLines lists a block's keyword lines in file order.
func (b *layoutBlock) keyLines() []int {
	var out []int
	for _, lines := range b.keys {
		out = append(out, lines...)
	}
	slices.Sort(out)
	return out
}

// kindIndent is the indentation of a block's opening line.
func (b *layoutBlock) kindIndent(l *layout) string {
	if b.open < 0 {
		return ""
	}
	return l.lines[b.open].indent
}

// openName is the name token of an opening line, as written.
func (ln *layoutLine) openName() string {
	s := strings.TrimLeft(ln.body, " \t")
	s = strings.TrimLeft(s[strings.IndexAny(s, " \t"):], " \t")
	return strings.TrimRight(strings.TrimSuffix(strings.TrimRight(s, " \t"), "{"), " \t")
}

// keyIndent is the indentation of a keyword added to fb: that of its
// keywords, else one level below its opening line.
func (e *editor) keyIndent(fb *layoutBlock) string {
	if k := fb.keyLines(); len(k) > 0 {
		return e.f.lines[k[0]].indent
	}
	if fb.open < 0 {
		return ""
	}
	return fb.kindIndent(e.f) + e.unit
}

// style is how the file indents the lines of a block kind.
type style struct{ open, key string }

// styleOf finds how the file indents a block of kind: as the siblings
// given first, else as any such block in the file, else with open as its
// opening line's indentation and one level more for its keywords.
func (e *editor) styleOf(kind string, siblings []int, open string) style {
	all := make([]int, len(e.f.blocks))
	for i := range all {
		all[i] = i
	}
	for _, blocks := range [][]int{siblings, all} {
		for _, i := range blocks {
			b := e.f.blocks[i]
			if b.kind != kind {
				continue
			}
			s := style{open: b.kindIndent(e.f), key: b.kindIndent(e.f) + e.unit}
			if k := b.keyLines(); len(k) > 0 {
				s.key = e.f.lines[k[0]].indent
			}
			return s
		}
	}
	return style{open: open, key: open + e.unit}
}

// insertBlock adds the block tb, new in to, among the file's siblings
// (file): after the file block prev, or, when it comes first, before the
// first sibling and its comments, else after its parent's keywords, in
// the indentation and blank-line spacing of its siblings.
func (e *editor) insertBlock(tb *layoutBlock, file []int, prev int, parent *layoutBlock) {
	styles := map[string]style{}
	if tb.kind == "virtual" {
		styles["virtual"] = e.styleOf("virtual", file, "")
		styles["server"] = e.styleOf("server", nil, styles["virtual"].key)
	} else {
		styles["server"] = e.styleOf("server", file, e.keyIndent(parent))
	}
	spaced := tb.kind == "virtual" || len(file) == 0 || e.spaced(e.f.blocks[file[len(file)-1]])
	var after int
	var before, behind bool // blank lines before and after the block
	switch {
	case prev >= 0:
		after, before = e.f.blocks[prev].close, spaced
	case len(file) > 0:
		after, behind = e.leadStart(e.f.blocks[file[0]])-1, e.spaced(e.f.blocks[file[0]])
	case parent.open >= 0:
		after, before = parent.lastKey, true
		if after < 0 {
			after = parent.open
		}
	default:
		after, before = len(e.f.lines)-1, len(e.f.lines) > 0
	}
	var out []string
	if before {
		out = append(out, "")
	}
	for i := tb.open; i <= tb.close; i++ {
		ln := e.to.lines[i]
		body := strings.TrimLeft(ln.body, " ")
		if body == "" {
			out = append(out, "")
			continue
		}
		st := styles[e.to.blocks[ln.block].kind]
		if ln.kind == lineKey {
			out = append(out, st.key+body)
		} else {
			out = append(out, st.open+body)
		}
	}
	if behind {
		out = append(out, "")
	}
	e.ins[after] = append(e.ins[after], out...)
}

// leadStart is the first line of a block with the comment lines right
// above it, which describe it.
func (e *editor) leadStart(b *layoutBlock) int {
	start := b.open
	for start > 0 && e.f.lines[start-1].comment {
		start--
	}
	return start
}

// spaced reports whether a blank line precedes the block and its comments.
func (e *editor) spaced(b *layoutBlock) bool {
	s := e.leadStart(b)
	return s > 0 && e.f.lines[s-1].kind == lineOther && !e.f.lines[s-1].comment
}

// removeBlock deletes a block with its comment lines, and one of the blank
// lines that separated it from its neighbours.
func (e *editor) removeBlock(b *layoutBlock) {
	start := e.leadStart(b)
	for i := start; i <= b.close; i++ {
		e.del[i] = true
	}
	blank := func(i int) bool {
		return i >= 0 && i < len(e.f.lines) && e.f.lines[i].kind == lineOther && !e.f.lines[i].comment
	}
	next := b.close + 1
	if blank(start-1) && (next >= len(e.f.lines) || blank(next) || e.f.lines[next].kind == lineClose) {
		e.del[start-1] = true
	}
}

// assemble writes the file with the changes, in the file's line endings.
func (e *editor) assemble() []byte {
	var b strings.Builder
	emit := func(after int) {
		for _, body := range e.ins[after] {
			b.WriteString(body)
			b.WriteString(e.f.eol)
		}
	}
	emit(-1)
	for i, ln := range e.f.lines {
		if !e.del[i] {
			if body, ok := e.repl[i]; ok {
				b.WriteString(body)
			} else {
				b.WriteString(ln.body)
			}
			eol := ln.eol
			if eol == "" && len(e.ins[i]) > 0 {
				eol = e.f.eol
			}
			b.WriteString(eol)
		}
		emit(i)
	}
	return []byte(b.String())
}
