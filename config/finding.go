package config

import (
	"fmt"
	"sort"
	"strings"
)

// Finding is one error or warning about a configuration.
type Finding struct {
	// File is the file name given to Parse; empty for a model checked by
	// Validate or CheckPlane, which has no file.
	File string
	// Line is the 1-based line the finding is about; 0 when there is none
	// (a model built in memory, or a whole-file problem).
	Line int
	// Message says what is wrong. For a model without lines it starts with
	// the virtual (and server) name it concerns.
	Message string
}

// String renders "FILE:LINE: message", "FILE: message" without a line, or
// the bare message for a model without a file.
func (f Finding) String() string {
	switch {
	case f.File != "" && f.Line > 0:
		return fmt.Sprintf("%s:%d: %s", f.File, f.Line, f.Message)
	case f.File != "":
		return f.File + ": " + f.Message
	case f.Line > 0:
		return fmt.Sprintf("line %d: %s", f.Line, f.Message)
	}
	return f.Message
}

// Error makes a Finding usable as an error on its own.
func (f Finding) Error() string { return f.String() }

// ErrorList is every error found in a configuration, sorted by line, so
// that a single run shows the administrator everything to fix.
type ErrorList []Finding

// Error renders one finding per line.
func (l ErrorList) Error() string {
	parts := make([]string, len(l))
	for i, f := range l {
		parts[i] = f.String()
	}
	return strings.Join(parts, "\n")
}

// Unwrap exposes the findings to errors.Is and errors.As.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, f := range l {
		errs[i] = f
	}
	return errs
}

// Result carries what Parse found that does not stop the configuration from
// being used: keywords govs ignores, and combinations the chosen data plane
// cannot do (which `govs run` refuses but `govs check` lets through).
type Result struct {
	Warnings []Finding
}

// sortFindings orders by line, keeping the order of discovery within a line.
func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Line < fs[j].Line })
}
