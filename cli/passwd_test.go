package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/govs/govs/web"
)

func TestPasswd(t *testing.T) {
	dir := t.TempDir()
	cf := filepath.Join(dir, "lvs.cf")
	if err := os.WriteFile(cf, []byte("service = lvs\nhttp_listen = 127.0.0.1:3636\nhttp_users = users\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(stdin string, args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := Main(append([]string{"passwd", "-c", cf}, args...), strings.NewReader(stdin), &out, &errb)
		return out.String() + errb.String(), code
	}
	if out, code := run("short\n"); code != ExitFailure || !strings.Contains(out, "at least 8") {
		t.Errorf("short password: %d %s", code, out)
	}
	if out, code := run("s3cret-pass\n", "--token"); code != ExitOK || !strings.Contains(out, "govs_") {
		t.Fatalf("%d %s", code, out)
	}
	if _, code := run("viewer-pass\n", "-u", "viewer", "--role", "readonly"); code != ExitOK {
		t.Fatal(code)
	}
	path := filepath.Join(dir, "users")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("users file: %v %v", fi, err)
	}
	data, _ := os.ReadFile(path)
	users, err := web.ParseUsers(data)
	if err != nil || len(users) != 2 {
		t.Fatalf("%v %v", users, err)
	}
	if users[0].Name != "admin" || users[0].Role != web.RoleAdmin || users[0].TokenHash == "" ||
		bcrypt.CompareHashAndPassword([]byte(users[0].Hash), []byte("s3cret-pass")) != nil {
		t.Errorf("admin: %+v", users[0])
	}
	if users[1].Role != web.RoleReadOnly || users[1].TokenHash != "" {
		t.Errorf("viewer: %+v", users[1])
	}
	// A new token keeps the password.
	if _, code := run("", "--keep-password", "--token"); code != ExitOK {
		t.Fatal(code)
	}
	data, _ = os.ReadFile(path)
	users2, _ := web.ParseUsers(data)
	if users2[0].Hash != users[0].Hash || users2[0].TokenHash == users[0].TokenHash {
		t.Error("--keep-password --token")
	}
	if _, code := run("", "-u", "viewer", "--delete"); code != ExitOK {
		t.Fatal(code)
	}
	data, _ = os.ReadFile(path)
	if strings.Contains(string(data), "viewer") {
		t.Error("user not deleted")
	}
	if _, code := run("x\n", "-u", "bad:name"); code != ExitUsage {
		t.Errorf("bad name %d", code)
	}
}
