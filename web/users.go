package web

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Roles a user can have.
const (
	RoleAdmin    = "admin"
	RoleReadOnly = "readonly"
)

// User is one line of the users file: name:bcrypt-hash:role[:token-hash].
// The API token is stored as its SHA-256: tokens are 256 random bits, so a
// slow hash would add nothing but a per-request cost.
type User struct {
	Name      string
	Hash      string
	Role      string
	TokenHash string
}

// CanWrite reports whether the user may change the configuration.
func (u *User) CanWrite() bool { return u.Role == RoleAdmin }

// ParseUsers reads a users file. Blank lines and lines starting with # are
// ignored.
func ParseUsers(data []byte) ([]User, error) {
	var out []User
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 3 || len(f) > 4 || f[0] == "" {
			return nil, fmt.Errorf("line %d: want name:hash:role[:token-hash]", n)
		}
		u := User{Name: f[0], Hash: f[1], Role: f[2]}
		if len(f) == 4 {
			u.TokenHash = f[3]
		}
		if u.Role != RoleAdmin && u.Role != RoleReadOnly {
			return nil, fmt.Errorf("line %d: role %q: want admin or readonly", n, u.Role)
		}
		out = append(out, u)
	}
	return out, sc.Err()
}

// FormatUsers renders users as a users file.
func FormatUsers(users []User) []byte {
	var b bytes.Buffer
	b.WriteString("# govs web users: name:bcrypt-hash:role[:sha256-of-api-token]; written by govs passwd\n")
	for _, u := range users {
		fmt.Fprintf(&b, "%s:%s:%s", u.Name, u.Hash, u.Role)
		if u.TokenHash != "" {
			fmt.Fprintf(&b, ":%s", u.TokenHash)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// ValidUserName reports whether name can be stored in the users file.
func ValidUserName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// HashPassword returns the bcrypt hash of password.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}

// NewToken returns a fresh API token and the hash to store for it.
func NewToken() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = "govs_" + base64.RawURLEncoding.EncodeToString(b)
	return token, TokenHash(token), nil
}

// TokenHash is the stored form of an API token.
func TokenHash(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}

// userStore reads the users file, re-reading it when it changes so that
// govs passwd takes effect without a restart.
type userStore struct {
	path string

	mu    sync.Mutex
	mod   time.Time
	size  int64
	users []User
	err   error
	// dummies are hashes compared against when the user does not exist,
	// one per bcrypt cost, so that a login takes as long for an unknown
	// user as for a wrong password.
	dummies map[int][]byte
}

// dummyFor returns a hash of the given bcrypt cost to compare against.
func (s *userStore) dummyFor(cost int) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.dummies[cost]; ok {
		return h
	}
	h, err := bcrypt.GenerateFromPassword([]byte("not a password"), cost)
	if err != nil {
		h, _ = bcrypt.GenerateFromPassword([]byte("not a password"), bcrypt.DefaultCost)
	}
	if s.dummies == nil {
		s.dummies = map[int][]byte{}
	}
	s.dummies[cost] = h
	return h
}

func (s *userStore) load() ([]User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path == "" {
		return nil, errors.New("no http_users file is configured")
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return nil, err
	}
	if s.users != nil && fi.ModTime().Equal(s.mod) && fi.Size() == s.size {
		return s.users, s.err
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return nil, err
	}
	s.users, s.err = ParseUsers(data)
	if s.users == nil {
		s.users = []User{}
	}
	s.mod, s.size = fi.ModTime(), fi.Size()
	return s.users, s.err
}

// check verifies a name and password.
func (s *userStore) check(name, password string) (*User, bool) {
	users, _ := s.load()
	for i := range users {
		if users[i].Name == name {
			u := users[i]
			if bcrypt.CompareHashAndPassword([]byte(u.Hash), []byte(password)) == nil {
				return &u, true
			}
			return nil, false
		}
	}
	cost := bcrypt.DefaultCost
	if len(users) > 0 {
		if c, err := bcrypt.Cost([]byte(users[0].Hash)); err == nil {
			cost = c
		}
	}
	_ = bcrypt.CompareHashAndPassword(s.dummyFor(cost), []byte(password))
	return nil, false
}

// byName finds a user by name in the current file.
func (s *userStore) byName(name string) (*User, bool) {
	users, _ := s.load()
	for i := range users {
		if users[i].Name == name {
			u := users[i]
			return &u, true
		}
	}
	return nil, false
}

// byToken finds the user owning an API token.
func (s *userStore) byToken(token string) (*User, bool) {
	if token == "" {
		return nil, false
	}
	users, _ := s.load()
	h := []byte(TokenHash(token))
	for i := range users {
		if users[i].TokenHash != "" && subtle.ConstantTimeCompare(h, []byte(users[i].TokenHash)) == 1 {
			u := users[i]
			return &u, true
		}
	}
	return nil, false
}
