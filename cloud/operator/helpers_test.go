package operator

import (
	"encoding/base64"
	"log/slog"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func b64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }
