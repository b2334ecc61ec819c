package operator

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Passwords are hashed with Argon2id (RFC 9106), the memory-hard KDF
// that won the Password Hashing Competition: a GPU or ASIC guessing
// passwords from a stolen database pays for the memory of every guess,
// which bcrypt (4 KiB, and only the first 72 bytes of a password) does
// not make it do. The parameters are OWASP's first recommendation (19
// MiB, 2 passes, 1 lane), stored with each hash in the PHC string
// format, so that stronger ones can come later: a login with an older
// hash rehashes it.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// hashSlots bounds the hashes computed at once (19 MiB each): a flood of
// logins queues rather than exhausting memory.
var hashSlots = make(chan struct{}, 2)

// HashPassword returns password's Argon2id hash as a PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func HashPassword(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	hashSlots <- struct{}{}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	<-hashSlots
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// errBadHash is a stored hash this code cannot read.
var errBadHash = errors.New("operator: unreadable password hash")

// CheckPassword reports whether password matches the PHC string hash,
// and whether the hash should be replaced by one with the current
// parameters. It waits for a free hashing slot or ctx.
func CheckPassword(ctx context.Context, hash, password string) (ok, rehash bool, err error) {
	var (
		version     int
		mem, passes uint32
		threads     uint8
	)
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, false, errBadHash
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, false, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &passes, &threads); err != nil ||
		mem < 8*uint32(threads) || mem > 1<<21 || passes < 1 || passes > 64 || threads < 1 {
		return false, false, errBadHash
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(want) < 16 || len(want) > 64 {
		return false, false, errBadHash
	}
	select {
	case hashSlots <- struct{}{}:
	case <-ctx.Done():
		return false, false, ctx.Err()
	}
	got := argon2.IDKey([]byte(password), salt, passes, mem, threads, uint32(len(want)))
	<-hashSlots
	ok = subtle.ConstantTimeCompare(got, want) == 1
	rehash = ok && (mem < argonMemory || passes < argonTime || len(want) < argonKeyLen)
	return ok, rehash, nil
}

// dummyHash is checked against when the operator does not exist, so that
// an unknown name takes as long as a wrong password.
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword(rand.Text())
	if err != nil {
		panic(err)
	}
	return h
})

// NewPassword returns a random password: 26 characters of base32, 130
// bits.
func NewPassword() string { return rand.Text() }
