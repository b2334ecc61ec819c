// Package usbredir plays the usb-host side of the usbredir protocol (the
// spice-project protocol QEMU's usb-redir device speaks over a chardev), so
// that a USB device written in Go appears on a QEMU guest's USB bus and is
// driven by the guest's real kernel, libusb and applications.
//
// QEMU is the usb-guest: it forwards the guest's transfers to us as
// packets and completes them when we answer with the same id. This side
// describes one device (Descriptors), answers the standard control
// requests itself (descriptors, status, halts, configuration and alternate
// setting), and hands class and vendor requests, bulk transfers and
// interrupt IN polling to a Device.
//
// Transfers on different endpoints run concurrently: a bulk IN that waits
// for data (the device NAKs) holds only its own endpoint, and QEMU may
// cancel it (cancel_data_packet) when the guest's transfer times out.
// Transfers on one endpoint are served in the order QEMU sent them.
//
// Capabilities negotiated with the peer: 64-bit packet ids, 32-bit bulk
// lengths, ep_info with wMaxPacketSize, device_connect with bcdDevice and
// device_disconnect_ack. Not supported: isochronous endpoints, bulk
// streams, buffered bulk receiving and device filters; none of them is
// advertised, and packets that need them are rejected as protocol errors.
//
// The protocol is described in usbredirproto.h and the usbredir protocol
// documentation of the spice project; this is an implementation of our
// own.
package usbredir
