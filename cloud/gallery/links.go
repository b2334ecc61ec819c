package gallery

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"regexp"
	"time"

	"github.com/lapsebox/lapsebox/cloud/state"
)

// tokenPattern is a token as NewLink makes it: crypto/rand's Text, 26
// base32 letters, 130 bits.
var tokenPattern = regexp.MustCompile(`^[A-Z2-7]{26}$`)

// NewLink makes a public link to device's pages and returns its ID and
// its token, which is kept nowhere (the state has its SHA-256): show it
// once. An unknown device is state.ErrNotFound.
func NewLink(ctx context.Context, db *state.DB, device, note string, now time.Time) (id int64, token string, err error) {
	token = rand.Text()
	id, err = db.AddLink(ctx, state.Link{Device: device, TokenSHA256: sha256.Sum256([]byte(token)), Note: note, Created: now})
	if err != nil {
		return 0, "", err
	}
	return id, token, nil
}

// LinkPath is the path of a link's live page.
func LinkPath(token string) string { return PathPrefix + token + "/" }
