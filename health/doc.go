// Package health monitors real servers from inside the router and drives
// their state in the virtual server table, for every data plane. It is what
// Piranha's nanny did, one process per real server, done once per distinct
// target in one process, with what nanny's successors (keepalived, HAProxy,
// Seesaw) learned since.
//
// A Manager keeps one monitor per distinct (address, check port, check
// definition): every service that names the same real server with the same
// check shares its result, so a server behind ten virtual services is probed
// once, not ten times. A monitor's verdict, the optional load agent on the
// real server and operator overrides combine into the state and weight of
// each (service, real server) pair, which the Manager pushes into the table
// with Service.SetState and Service.SetWeight. The table then does the rest:
// removal from scheduling, quiescing, and the sorry server while nothing is
// up.
//
// The checks are nanny's (TCP or UDP connect with send/expect, regex
// expect, send_program) plus HTTP, HTTPS, DNS and a HAProxy-style agent,
// configured from lvs.cf keywords carried in model.Check. README.md in this
// directory is the reference for every keyword, the state machine and the
// differences from Piranha.
//
// The router calls Apply after every table.Apply, runs Run for the router's
// lifetime, and forwards operator commands to Override.
package health
