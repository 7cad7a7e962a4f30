package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

const (
	sessionCookie = "govs_session"
	sessionTTL    = 12 * time.Hour
	// Login limits: after loginBurst failures within loginWindow a client
	// address, or a user name, is refused until the window has passed. Both
	// keys count, so spreading guesses over addresses does not help against
	// one account, and one address cannot sweep many accounts.
	loginBurst  = 5
	loginWindow = 5 * time.Minute
	// loginAll is the limiter's key for every failure: beyond
	// loginAllBurst failures in a window, from however many addresses and
	// for however many names, every login waits for the window to pass.
	loginAll      = "all"
	loginAllBurst = 200
	// maxUserName bounds the user names that reach the limiter and the log.
	maxUserName = 64
	// maxLimiterKeys bounds the limiter: beyond it, new keys are not kept
	// (their failures still count in loginAll).
	maxLimiterKeys = 100000
)

type session struct {
	user    User
	csrf    string
	expires time.Time
}

type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *sessions) create(u User, now time.Time) (string, *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*session{}
	}
	for id, ss := range s.m {
		if now.After(ss.expires) {
			delete(s.m, id)
		}
	}
	id := randomString(32)
	ss := &session{user: u, csrf: randomString(32), expires: now.Add(sessionTTL)}
	s.m[id] = ss
	return id, ss
}

func (s *sessions) get(id string, now time.Time) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[id]
	if ss == nil || now.After(ss.expires) {
		delete(s.m, id)
		return nil
	}
	return ss
}

func (s *sessions) delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// limiter counts failed logins per key in a fixed window.
type limiter struct {
	mu sync.Mutex
	m  map[string]*window
}

type window struct {
	start time.Time
	fails int
}

func (l *limiter) blocked(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.m[key]
	if w == nil || now.Sub(w.start) > loginWindow {
		return false
	}
	if key == loginAll {
		return w.fails >= loginAllBurst
	}
	return w.fails >= loginBurst
}

func (l *limiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*window{}
	}
	if len(l.m) > maxLimiterKeys {
		// Bounded memory under a spray of addresses: forget stale windows.
		for k, w := range l.m {
			if now.Sub(w.start) > loginWindow {
				delete(l.m, k)
			}
		}
	}
	w := l.m[key]
	if w == nil || now.Sub(w.start) > loginWindow {
		if w == nil && len(l.m) >= maxLimiterKeys {
			return // full of live windows: the global key still counts
		}
		w = &window{start: now}
		l.m[key] = w
	}
	w.fails++
}

func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, key)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// principal is who makes a request: a browser session or an API token.
type principal struct {
	user    User
	session *session // nil for a token
}

// authenticate finds the request's principal, from a bearer token or a
// session cookie.
func (s *Server) authenticate(r *http.Request) *principal {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return nil
		}
		u, ok := s.users.byToken(strings.TrimSpace(tok))
		if !ok {
			return nil
		}
		return &principal{user: *u}
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	ss := s.sessions.get(c.Value, s.now())
	if ss == nil {
		return nil
	}
	// The users file is the truth, now: a session ends when its user was
	// deleted, had the role changed or a new password set since the
	// login (the file is looked at on every request; it is re-read only
	// when it changed).
	if u, ok := s.users.byName(ss.user.Name); !ok || u.Role != ss.user.Role || u.Hash != ss.user.Hash {
		s.sessions.delete(c.Value)
		return nil
	}
	return &principal{user: ss.user, session: ss}
}

// csrfOK checks a changing request's CSRF token. Token-authenticated API
// calls need none: a browser never adds an Authorization header by itself.
func csrfOK(p *principal, r *http.Request) bool {
	if p.session == nil {
		return true
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(p.session.csrf)) == 1
}
