// Command govs is an LVS router: virtual services on floating addresses,
// spread over real servers by IPVS's schedulers, with firewall-mark
// multi-port services and persistence, configured by Piranha's lvs.cf.
// Run `govs help` for the commands.
package main

import (
	"os"

	"github.com/govs/govs/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
