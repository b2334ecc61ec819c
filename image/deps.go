//go:build tools

// This file pins, in go.mod, the modules whose files go into an image
// without being linked into the host tool: gokrazy's init and default
// services, the kernels and the Raspberry Pi firmware.
package image

import (
	_ "github.com/gokrazy/firmware"
	_ "github.com/gokrazy/gokrazy"
	_ "github.com/gokrazy/gokrazy/cmd/dhcp"
	_ "github.com/gokrazy/gokrazy/cmd/ntp"
	_ "github.com/gokrazy/gokrazy/cmd/randomd"
	_ "github.com/gokrazy/kernel.amd64"
	_ "github.com/gokrazy/kernel.arm64"
	_ "github.com/gokrazy/kernel.rpi"
	_ "github.com/gokrazy/rpi-eeprom"
)
