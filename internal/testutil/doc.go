// Package testutil holds what the tests of several packages share and
// would otherwise copy: waiting for a condition with a bounded deadline,
// a buffer that a child process and the test may use at once, listeners
// and servers on ports the kernel picks, a free-port finder for the few
// cases where the code under test must bind the port itself, client load
// that counts its failures while a test reloads, and files of
// pseudo-random bytes with their SHA-256.
//
// It imports only the standard library, so that the tests of every
// package, however low in the import graph, may use it.
package testutil
