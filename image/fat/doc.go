// Package fat writes FAT16 file systems for gokrazy boot partitions and
// checks them the way the device will read them.
//
// The layout follows gok's own writer because gokrazy's device-side code
// finds and rewrites cmdline.txt (and the systemd-boot entry and EEPROM
// signatures) in place with a minimal FAT16 reader: 512-byte sectors,
// 2 KiB clusters, 4 reserved sectors, exactly one FAT, every file and
// directory in one contiguous run of clusters, and extension-less
// lower-case names such as "loader" stored with lower-case short-name
// bytes. Long names get VFAT long-name entries, so Raspberry Pi firmware
// files and overlays keep their names. Output is deterministic.
//
// Find re-implements the device's lookup (without sharing its code) so
// that builds can verify an image and compute the LBAs the MBR boot
// loader needs.
package fat
