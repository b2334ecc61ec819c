// Package sim simulates the USB LTE modems lapsebox supports, Quectel
// EC25 and SIMCom SIM7600, at their AT command port, quirks included:
// echo on after every reset, boot URCs, a SIM that wants its PIN and
// locks after three wrong ones, "SIM busy" while it initialises,
// registration that takes its time or is denied, roaming, URC storms,
// answers split across writes or glued to URCs, garbage bytes, a port
// that stops answering, AT+CFUN=1,1 making the port vanish and come
// back, text-mode SMS (a body may hold a line "OK") and a message storage
// that fills up.
//
// The simulator is its own implementation of the modems' behaviour, not
// built on package modem, so that testing the engine against it tests
// something. It serves any byte stream (Serve): a pseudo-terminal that
// the engine opens through tarm/serial like a real tty (ServePTY), or
// QEMU's usb-serial chardev, which gives a VM a real /dev/ttyUSB0
// (ListenChardev).
package sim
