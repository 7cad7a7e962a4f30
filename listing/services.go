package listing

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
)

// servicesFile is the services database ipvsadm's getservbyport reads
// through NSS "files"; tests point it elsewhere.
var servicesFile = "/etc/services"

var (
	servicesOnce sync.Once
	services     map[string]string // "80/tcp" -> "http"
)

// lookupPort names a port as getservbyport does: the first entry of the
// database for that port and protocol, by its official name, not an alias.
func lookupPort(port uint16, proto string) (string, bool) {
	servicesOnce.Do(func() {
		f, err := os.Open(servicesFile)
		if err != nil {
			services = map[string]string{}
			return
		}
		defer f.Close()
		services = parseServices(f)
	})
	n, ok := services[strconv.Itoa(int(port))+"/"+proto]
	return n, ok
}

// parseServices reads lines "name port/proto [aliases] [# comment]".
func parseServices(r io.Reader) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		port, proto, ok := strings.Cut(f[1], "/")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			continue
		}
		k := strconv.FormatUint(n, 10) + "/" + strings.ToLower(proto)
		if _, dup := m[k]; !dup {
			m[k] = f[0]
		}
	}
	return m
}
