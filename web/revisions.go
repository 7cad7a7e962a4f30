package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/govs/govs/config"
)

// The history of lvs.cf, as the API and the HISTORY page show it: each
// applied change is a numbered revision with its author, time and diff,
// and rolling back to one is an edit like any other (validated, applied,
// recorded).

// RevisionView is one revision with its text and the diff from the one
// before it.
type RevisionView struct {
	config.Revision
	Text string `json:"text"`
	Diff string `json:"diff"`
	// Lines is Diff cut for the page, each line with its kind.
	Lines []DiffLine `json:"-"`
}

// DiffLine is a line of a unified diff and what it is: add, del, hunk or
// ctx (context).
type DiffLine struct{ Kind, Text string }

func diffLines(diff string) []DiffLine {
	var out []DiffLine
	for _, l := range strings.Split(strings.TrimSuffix(diff, "\n"), "\n") {
		kind := "ctx"
		switch {
		case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"), strings.HasPrefix(l, "@@"):
			kind = "hunk"
		case strings.HasPrefix(l, "+"):
			kind = "add"
		case strings.HasPrefix(l, "-"):
			kind = "del"
		}
		out = append(out, DiffLine{kind, l})
	}
	return out
}

func (s *Server) revision(r *http.Request) (RevisionView, result) {
	n, err := strconv.Atoi(r.PathValue("revision"))
	if err != nil || n <= 0 {
		return RevisionView{}, result{Fields: FieldErrors{"": fmt.Sprintf("%q is not a revision number", r.PathValue("revision"))}}
	}
	rev, text, diff, err := s.r.Revision(n)
	if err != nil {
		return RevisionView{}, outcome(err, nil)
	}
	return RevisionView{Revision: rev, Text: string(text), Diff: diff}, result{}
}

func (s *Server) rollback(ctx context.Context, r *http.Request) result {
	n, err := strconv.Atoi(r.PathValue("revision"))
	if err != nil || n <= 0 {
		return result{Fields: FieldErrors{"": fmt.Sprintf("%q is not a revision number", r.PathValue("revision"))}}
	}
	_, err = s.r.Rollback(ctx, n)
	return outcome(err, nil)
}

func (s *Server) apiHistory(w http.ResponseWriter, r *http.Request, p *principal) {
	writeJSON(w, http.StatusOK, s.r.History())
}

func (s *Server) apiRevision(w http.ResponseWriter, r *http.Request, p *principal) {
	v, res := s.revision(r)
	s.respond(w, res, http.StatusOK, v)
}

func (s *Server) apiRollback(w http.ResponseWriter, r *http.Request, p *principal) {
	s.respond(w, s.rollback(r.Context(), r), http.StatusOK, nil)
}

// historyPage lists the revisions, newest first, each with its diff.
func (s *Server) historyPage(w http.ResponseWriter, r *http.Request, p *principal) {
	pg := s.newPage(p, "History", "history")
	revs := s.r.History()
	slices.Reverse(revs)
	var views []RevisionView
	for _, rev := range revs {
		v := RevisionView{Revision: rev}
		if got, _, diff, err := s.r.Revision(rev.N); err == nil {
			v.Revision, v.Diff, v.Lines = got, diff, diffLines(diff)
		}
		views = append(views, v)
	}
	pg.Data = views
	if r.URL.Query().Get("saved") != "" {
		pg.Flash = "Rolled back: the revision is running again, and recorded as a new one."
	}
	s.render(w, http.StatusOK, "history.html", pg)
}

func (s *Server) historyRollback(w http.ResponseWriter, r *http.Request, p *principal) {
	if res := s.rollback(r.Context(), r); !res.ok() || res.Refused {
		s.errorPage(w, res.status(), formError(res))
		return
	}
	http.Redirect(w, r, "/history?saved=1", http.StatusSeeOther)
}
