// Package ptp speaks the Picture Transfer Protocol (ISO 15740) to a still
// camera over the endpoints of a USB Still Image interface: the initiator
// side, as a time-lapse needs it, with the Canon EOS and Nikon extensions.
//
// From the wire up:
//
//   - Transport (transport.go) is the layer below: bulk OUT, bulk IN,
//     interrupt IN and the class requests Cancel, Device Reset and Get
//     Device Status. ptp/usb implements it over gousb for a real camera,
//     ptp/sim in memory for tests; this package never touches USB itself.
//   - Containers (container.go) frame commands, data, responses and events,
//     and are read by their length field, whatever the transfers look like:
//     split headers, responses glued onto data, stray zero-length packets.
//   - Datasets (dataset.go, value.go, strings.go) encode and decode
//     DeviceInfo, StorageInfo, ObjectInfo, DevicePropDesc and typed values;
//     codes.go names operations, responses, events, properties and formats,
//     vendor codes scoped by the VendorExtensionID.
//   - Conn (session.go) runs one transaction at a time within a session:
//     transaction IDs, DeviceBusy retried with backoff, a bounded deadline
//     on every call, and recovery (Cancel, drain, Get Device Status) after
//     a failed transaction. operations.go wraps the standard operations.
//   - Vendor events: Canon EOS bodies report captures and property changes
//     as records of a polled GetEvent (eos.go), Nikon DSLRs by their own
//     polled GetEvent (nikon.go); other cameras use the interrupt endpoint
//     (Conn.ReadEvent).
//
// Above this package, ptp/camera chooses a capture strategy from the
// DeviceInfo and drives the camera by name ("iso", "shutterspeed"); ptp/fetch
// walks and downloads a camera's stores. docs/ptp.md records the protocol
// facts and device quirks this code relies on, with their sources; comments
// cite it by section.
package ptp
