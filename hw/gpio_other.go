//go:build !linux

package hw

import "errors"

// Kernel is GPIO through the kernel's GPIO character devices, which only
// Linux has.
type Kernel struct{}

// Request implements GPIO: it always fails off Linux.
func (Kernel) Request(c LineConfig) (Line, error) {
	return nil, &LineError{Chip: c.Chip, Line: c.Line, Err: errors.New("GPIO character devices need Linux")}
}
