package image

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
)

// sourceVersion names the commit of the checkout at root, "-dirty" if
// tracked files changed, as the Go toolchain stamps binaries; "" if root
// is not a git checkout or git is missing. The image records it once
// (release.BuildPath) because its binaries are built without VCS stamps.
func sourceVersion(ctx context.Context, root string) string {
	rev, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return ""
	}
	v := strings.TrimSpace(string(rev))
	status, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output()
	if err != nil || len(bytes.TrimSpace(status)) > 0 {
		v += "-dirty"
	}
	return v
}
