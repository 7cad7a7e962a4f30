package ipvs

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/govs/govs/model"
)

// FTPModule is the kernel's FTP helper for IPVS: behind NAT it rewrites
// the addresses in PORT commands and 227 replies of connections to
// services on port 21 and creates the data connections' entries, so
// persistence is not needed there. It does nothing for firewall-mark
// services (their port is 0), which rely on persistence instead.
const FTPModule = "ip_vs_ftp"

// LoadModule loads a kernel module with modprobe unless it is loaded or
// built in already (both show in /sys/module).
func LoadModule(name string) error {
	if _, err := os.Stat("/sys/module/" + name); err == nil {
		return nil
	}
	out, err := exec.Command("modprobe", name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("modprobe %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// hasFTP reports whether cfg has an active FTP service.
func hasFTP(cfg *model.Config) bool {
	for i := range cfg.Services {
		if s := &cfg.Services[i]; s.Active && s.FTP {
			return true
		}
	}
	return false
}

// ftpHelperLocked loads the FTP helper once a configuration has an FTP
// service. A failure is logged, not fatal: mark services with persistence
// carry FTP without it, and the router must not refuse a configuration
// for a module a container may not be allowed to load.
func (p *Plane) ftpHelperLocked(cfg *model.Config) {
	if p.ftpLoaded || !hasFTP(cfg) {
		return
	}
	load := p.o.LoadModule
	if load == nil {
		load = LoadModule
	}
	if err := load(FTPModule); err != nil {
		p.log.Warn("ipvs: FTP helper not loaded: active FTP behind NAT needs it", "module", FTPModule, "error", err)
		return
	}
	p.ftpLoaded = true
	p.log.Info("ipvs: FTP helper loaded", "module", FTPModule)
}

// directFTP reports whether an FTP service has a real server reached by
// direct routing or tunnelling, given the router-wide method network.
func directFTP(s *model.Service, network model.Forward) bool {
	if !s.FTP {
		return false
	}
	for _, rs := range s.RealServers {
		f := rs.Forward
		if f == model.ForwardDefault {
			f = network
		}
		if rs.Active && (f == model.ForwardDR || f == model.ForwardTUN) {
			return true
		}
	}
	return false
}
