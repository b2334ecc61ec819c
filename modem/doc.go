// Package modem talks to 3G/4G modems over their AT command port: an engine
// that sends one command at a time with its own timeout and tells the
// final result, the information lines and the unsolicited result codes
// apart however the bytes arrive (split across reads, glued together,
// interleaved, with echo on or off, verbose or numeric), the typed
// commands lapsebox needs (identity, SIM, registration, signal, SMS, the
// USB network mode), and finding the AT port through sysfs.
//
// The serial edge is Port; OpenSerial is the real one, over
// github.com/tarm/serial. The modem manager built on this package is
// modem/manager; a simulator of the modems lapsebox supports is modem/sim.
//
// The package never imports the appliance: it knows modems, not sites.
package modem
