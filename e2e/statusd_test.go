package e2e

import (
	"net/http"
	"sync"

	"github.com/lapsebox/lapsebox/image/qemu"
)

// statusdPasswords holds each VM's device password (*qemu.VM → string):
// statusd asks for it like gokrazy.
var statusdPasswords sync.Map

// statusdGet gets path from vm's statusd, with the device password.
func statusdGet(vm *qemu.VM, path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+vm.Addr("statusd")+path, nil)
	if err != nil {
		return nil, err
	}
	if pw, ok := statusdPasswords.Load(vm); ok {
		req.SetBasicAuth("gokrazy", pw.(string))
	}
	return http.DefaultClient.Do(req)
}
