// Package sim is a camera simulator: a PTP responder that implements
// ptp.Transport, the host's view of a USB Still Image interface, so that
// the camera driver is tested through exactly the interface the gousb
// transport implements. It parses the command and data containers the host
// sends on bulk OUT, answers with data and response containers cut into
// packets of MaxPacketSize on bulk IN, queues events on the interrupt
// pipe, and answers the class requests Cancel, Device Reset and Get Device
// Status.
//
// Models (Config.Model):
//
//   - CanonEOS600D: VendorExtensionID 0xB, USB 04A9:3218, the DeviceInfo
//     lists of docs/ptp.md §2.5, §2.6 and §3.1 (no InitiateCapture).
//     SetRemoteMode, SetEventMode, GetEvent records (§3.2), RemoteReleaseOn/
//     Off and RemoteRelease, capture to card (ObjectAddedEx) or to host
//     (RequestObjectTransfer, TransferComplete, PCHDDCapacity),
//     SetDevicePropValueEx, KeepDeviceOn, RequestDevicePropValue (owner,
//     serial number).
//   - NikonD7000: VendorExtensionID 0xA, USB 04B0:0428: capture to SDRAM
//     with InitiateCaptureRecInSdram (0x90C0), AfCaptureSDRAM (0x90CB) or
//     InitiateCaptureRecInMedia (0x9207), DeviceReady polling, the polled
//     Nikon GetEvent (0x90C7), objects at 0xFFFF0001… deleted after
//     download (§3.5). Standard properties with CompressionSetting as the
//     image quality.
//   - Generic: InitiateCapture, then ObjectAdded and CaptureComplete on the
//     interrupt pipe carrying the capture's transaction ID (§2.6, §3.5);
//     standard properties (§2.5).
//   - DownloadOnly: a responder like QEMU's usb-mtp (§4.1): VendorExtensionID
//     6, no capture, no properties, every file of format Undefined (0x3000).
//
// The card holds folders (DCIM/100CANON, DCIM/100NIKON…), files given in
// Config.Files, and what the camera captures: real JPEG files made with
// image/jpeg (a test pattern with the capture number and time drawn in,
// padded to Config.JPEGSize) and pseudo-random RAW payloads of
// Config.RAWSize bytes (.CR2 with format 0xB103, .NEF with 0x3000 as Nikon
// reports it, .DNG for the generic camera). RAW data is generated as it is
// read, so a 25 MB file costs no memory.
//
// Quirks reproduced, and where they come from (sections of docs/ptp.md):
//
//   - A data phase that ends on a packet boundary is followed by a ZLP,
//     unless Config.NoZLP: then the response is glued onto the data (§1.3,
//     QEMU on UHCI). A command sent while a reply is still unread stalls
//     bulk OUT (§4.3).
//   - OpenSession(0) is InvalidParameter, a second OpenSession is
//     SessionAlreadyOpen with the open ID, operations without a session
//     are SessionNotOpen (§1.6).
//   - EOS: events are reported only after SetEventMode(1), which queues the
//     initial bulk of property values and allowed-value lists (§3.3 step 3);
//     a release with undrained GetEvent records is answered DeviceBusy, and
//     so is a full press that cannot focus (§3.4, gphoto2 #382); setting
//     CaptureDestination to its current value is DeviceBusy (§3.3 step 5);
//     capture to host without PCHDDCapacity leaves AvailableShots at 0 and
//     the release fails (§3.4); host-target pictures not acknowledged with
//     TransferComplete fill the camera's buffer and later releases are
//     refused (§3.4); the second file of a RAW+JPG pair appears
//     Config.PairPolls GetEvent polls after the first (§3.3 step 14); the
//     camera falls asleep after Config.IdleSleep without KeepDeviceOn or a
//     release and stops answering (§3.4, §6: gphoto2 #1, #613).
//   - Nikon: DeviceReady answers DeviceBusy Config.NikonBusyPolls times
//     after a capture; RAW objects have format 0x3000 (§2.4); a capture
//     while the SDRAM still holds undeleted objects is DeviceBusy (a
//     modelling choice: libgphoto2 always deletes them).
//   - Cancel drops the pending reply and makes the next Get Device Status
//     report TransactionCancelled (§1.4); Device Reset closes the session.
//
// Modelling choices not taken from a source: a release the camera cannot
// store (card full, no host capacity) is answered StoreFull; RemoteRelease-
// On without SetRemoteMode is EOSOperationRefused; a sleeping camera
// accepts bulk OUT but never answers, and its class requests fail at once
// as if their control timeout had expired.
//
// Faults are injected with Inject: a stall in the middle of a reply (the
// device NAKs until Cancel or Reset), garbage instead of a container, a
// disconnect (every call fails with ptp.ErrNoDevice until Replug), a
// response with the wrong transaction ID, DeviceBusy for N calls, a
// truncated dataset. A Fault names the operation it hits and how many
// matching operations pass first, which makes schedules.
//
// A Device is deterministic for a given Config.Seed and safe for the
// concurrent use ptp.Transport allows: the interrupt pipe alongside the bulk
// pipes, and test code (Unplug, Inject, SetFocus…) alongside both.
package sim
