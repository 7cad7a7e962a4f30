// Package config reads and writes lvs.cf, the configuration file of the
// Piranha LVS router that govs keeps as its own format.
//
// The grammar is Piranha's, so a file that Piranha's parser accepted is read
// here without error: lines of `keyword = value` with a separate "=" token,
// `#` comment lines, quoted tokens that end on the same line, and blocks
// `virtual NAME {`, `server NAME {` (inside a virtual block) and
// `failover NAME {`, each closed by a line holding only "}". govs adds a
// few keywords of its own (firewall-mark port lists, scheduler flags,
// per-server forwarding, health-check extensions); README.md is the
// reference of every keyword.
//
// Parse never stops at the first problem: an administrator fixing a file is
// better served by seeing every error at once, so each error is recorded with
// its line and parsing carries on. Keywords govs has no use for (failover
// services, the shared-SCSI settings, legacy options) are accepted and
// reported as warnings rather than errors, so `govs check` passes any valid
// Piranha file.
//
// Write produces the canonical form of a model. It omits values equal to
// their defaults, so that Parse(Write(c)) is c again for every model Parse
// produces; the web tool relies on that to edit a file without drifting.
package config
