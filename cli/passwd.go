package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/govs/govs/config"
	"github.com/govs/govs/web"
)

// cmdPasswd sets a web-tool user's password, role and API token, as
// piranha-passwd set the Piranha tool's password.
func cmdPasswd(e *env, args []string) int {
	c := commands()["passwd"]
	fs := newFlags(e, c)
	cfgPath := fs.String("c", DefaultConfig, "the lvs.cf whose http_users names the users `file`")
	file := fs.String("f", "", "the users `file` (instead of lvs.cf's http_users)")
	user := fs.String("u", "admin", "the user `name`")
	role := fs.String("role", "", "the user's `role`: admin or readonly (default: unchanged, admin for a new user)")
	token := fs.Bool("token", false, "also make a new API token and print it (only its hash is stored)")
	keep := fs.Bool("keep-password", false, "keep the current password (with --token or --role)")
	del := fs.Bool("delete", false, "remove the user")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if !web.ValidUserName(*user) {
		fmt.Fprintf(e.stderr, "govs passwd: bad user name %q (letters, digits, _ - .)\n", *user)
		return ExitUsage
	}
	if *role != "" && *role != web.RoleAdmin && *role != web.RoleReadOnly {
		fmt.Fprintf(e.stderr, "govs passwd: --role %q: want admin or readonly\n", *role)
		return ExitUsage
	}
	path := *file
	if path == "" {
		p, err := usersFileOf(*cfgPath)
		if err != nil {
			fmt.Fprintln(e.stderr, "govs passwd:", err)
			return ExitFailure
		}
		path = p
	}
	var users []web.User
	if data, err := os.ReadFile(path); err == nil {
		if users, err = web.ParseUsers(data); err != nil {
			fmt.Fprintf(e.stderr, "govs passwd: %s: %v\n", path, err)
			return ExitFailure
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintln(e.stderr, "govs passwd:", err)
		return ExitFailure
	}
	idx := -1
	for i := range users {
		if users[i].Name == *user {
			idx = i
		}
	}
	switch {
	case *del:
		if idx < 0 {
			fmt.Fprintf(e.stderr, "govs passwd: no user %q in %s\n", *user, path)
			return ExitFailure
		}
		users = append(users[:idx], users[idx+1:]...)
	default:
		if idx < 0 {
			if *keep {
				fmt.Fprintf(e.stderr, "govs passwd: --keep-password: no user %q yet\n", *user)
				return ExitUsage
			}
			users = append(users, web.User{Name: *user, Role: web.RoleAdmin})
			idx = len(users) - 1
		}
		u := &users[idx]
		if *role != "" {
			u.Role = *role
		}
		if !*keep {
			pw, err := readPassword(e)
			if err != nil {
				fmt.Fprintln(e.stderr, "govs passwd:", err)
				return ExitFailure
			}
			if u.Hash, err = web.HashPassword(pw); err != nil {
				fmt.Fprintln(e.stderr, "govs passwd:", err)
				return ExitFailure
			}
		}
		if *token {
			tok, h, err := web.NewToken()
			if err != nil {
				fmt.Fprintln(e.stderr, "govs passwd:", err)
				return ExitFailure
			}
			u.TokenHash = h
			fmt.Fprintf(e.stdout, "API token for %s (shown once; use as Authorization: Bearer TOKEN):\n%s\n", u.Name, tok)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		fmt.Fprintln(e.stderr, "govs passwd:", err)
		return ExitFailure
	}
	if err := config.WriteFileAtomic(path, web.FormatUsers(users)); err != nil {
		fmt.Fprintln(e.stderr, "govs passwd:", err)
		return ExitFailure
	}
	fmt.Fprintf(e.stderr, "govs passwd: %s updated\n", path)
	return ExitOK
}

// usersFileOf reads http_users from an lvs.cf; a relative path is taken
// from the lvs.cf's directory, as govs run does.
func usersFileOf(cfgPath string) (string, error) {
	src, err := config.ReadFile(cfgPath)
	if err != nil {
		return "", fmt.Errorf("%v (name the users file with -f)", err)
	}
	cfg, _, err := config.Parse(cfgPath, src)
	if err != nil {
		return "", err
	}
	if cfg.Global.HTTPUsers == "" {
		return "", fmt.Errorf("%s sets no http_users (name the users file with -f)", cfgPath)
	}
	return resolvePath(cfgPath, cfg.Global.HTTPUsers), nil
}

func resolvePath(cfgPath, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(cfgPath), p)
}

// readPassword prompts on a terminal without echo, twice; from a pipe it
// reads one line, so scripts can set passwords.
func readPassword(e *env) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, "New password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(e.stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return checkPassword(string(a))
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("reading the password from stdin: %v", err)
	}
	return checkPassword(strings.TrimRight(line, "\r\n"))
}

func checkPassword(p string) (string, error) {
	if len(p) < 8 {
		return "", errors.New("the password needs at least 8 characters")
	}
	if len(p) > 72 {
		return "", errors.New("the password may have at most 72 bytes (bcrypt's limit)")
	}
	return p, nil
}
