package testutil

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// VsftpdDir makes the directories VsftpdConf names under dir: root, the
// anonymous root, which vsftpd wants read-only; root/upload, writable by
// the ftp user uid:gid for uploads; and empty, its secure_chroot_dir.
func VsftpdDir(t testing.TB, dir string, uid, gid int) {
	t.Helper()
	for _, d := range []string{dir, dir + "/root", dir + "/root/upload", dir + "/empty"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(dir+"/root/upload", uid, gid); err != nil {
		t.Fatal(err)
	}
}

// VsftpdConf is the configuration of a vsftpd real server in dir (made
// by VsftpdDir): anonymous only, passive and active transfers, uploads,
// in the foreground, and logging every command and transfer with the
// session's pid (dir/vsftpd.log, dir/xferlog), so that a control session
// and its data transfers can be matched; sandboxing is off, as it fails
// in a test's network namespaces. extra are the test's own lines: where
// to listen, the passive port range, the active data port.
func VsftpdConf(dir string, extra ...string) string {
	lines := append(slices.Clip(extra),
		"background=NO",
		"anonymous_enable=YES",
		"local_enable=NO",
		"no_anon_password=YES",
		"anon_root="+dir+"/root",
		"write_enable=YES",
		"anon_upload_enable=YES",
		"anon_other_write_enable=YES",
		"anon_umask=022",
		"pasv_enable=YES",
		"port_enable=YES",
		"xferlog_enable=YES",
		"xferlog_file="+dir+"/xferlog",
		"vsftpd_log_file="+dir+"/vsftpd.log",
		"dual_log_enable=YES",
		"log_ftp_protocol=YES",
		"secure_chroot_dir="+dir+"/empty",
		"isolate=NO",
		"isolate_network=NO",
		"seccomp_sandbox=NO")
	return strings.Join(lines, "\n") + "\n"
}
