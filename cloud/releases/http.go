package releases

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/image/release"
	"github.com/lapsebox/lapsebox/internal/durable"
)

// DeviceHandler serves the devices, behind their authentication:
//
//	GET release.LatestPath + "{board}/{channel}"  the signed manifest
//	GET release.BlockPath + "{hash}"              one block
//	GET release.PatchPath + "{from}/{to}"         a part's patch (ranges)
func (s *Store) DeviceHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+release.LatestPath+"{board}/{channel}", s.serveLatest)
	mux.HandleFunc("GET "+release.BlockPath+"{hash}", s.serveBlock)
	mux.HandleFunc("GET "+release.PatchPath+"{from}/{to}", s.servePatch)
	return mux
}

// AdminHandler serves the publisher, behind an operator's authentication:
//
//	HEAD release.PublishBlockPath + "{hash}"      200 if stored, else 404
//	PUT  release.PublishBlockPath + "{hash}"      store a block
//	PUT  release.PublishPath + "{board}/{channel}" publish a signed manifest
func (s *Store) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("HEAD "+release.PublishBlockPath+"{hash}", s.headBlock)
	mux.HandleFunc("PUT "+release.PublishBlockPath+"{hash}", s.putBlock)
	mux.HandleFunc("PUT "+release.PublishPath+"{board}/{channel}", s.putManifest)
	return mux
}

func (s *Store) serveLatest(w http.ResponseWriter, r *http.Request) {
	board, channel := r.PathValue("board"), r.PathValue("channel")
	if !release.NamePattern.MatchString(board) || !release.NamePattern.MatchString(channel) {
		http.Error(w, "no such board or channel", http.StatusNotFound)
		return
	}
	signed, _, ok := s.Latest(board, channel)
	if !ok {
		http.Error(w, "no release on this channel", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(signed)
}

func (s *Store) serveBlock(w http.ResponseWriter, r *http.Request) {
	h := r.PathValue("hash")
	s.mu.RLock()
	ok := release.IsHash(h) && s.served[h]
	s.mu.RUnlock()
	if !ok {
		http.Error(w, "no such block in a published release", http.StatusNotFound)
		return
	}
	b, err := s.readBlock(h)
	if err != nil {
		s.log.Error("releases: serving a block", "block", h, "err", err)
		http.Error(w, "block unavailable (see the server's log)", http.StatusInternalServerError)
		return
	}
	// Compressed on the way: a release's blocks are not compressed at
	// rest (so that patches are made from them, see patch.go), and a device
	// without a patch fetches all it lacks.
	w.Header().Set("Vary", "Accept-Encoding")
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		if z := release.GzipBlock(b); z != nil {
			w.Header().Set("Content-Encoding", "gzip")
			b = z
		}
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Write(b)
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		if strings.TrimSpace(coding) != "gzip" {
			continue
		}
		q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q=")
		weight, err := strconv.ParseFloat(q, 64)
		return !ok || err != nil || weight != 0
	}
	return false
}

func (s *Store) servePatch(w http.ResponseWriter, r *http.Request) {
	name, err := s.patch(r.PathValue("from"), r.PathValue("to"))
	if errors.Is(err, errNoPatch) {
		http.Error(w, "no patch between these parts", http.StatusNotFound)
		return
	}
	var f *os.File
	if err == nil {
		f, err = os.Open(name)
	}
	if err != nil {
		s.log.Error("releases: serving a patch", "err", err)
		http.Error(w, "patch unavailable (see the server's log)", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.Time{}, f)
}

func (s *Store) headBlock(w http.ResponseWriter, r *http.Request) {
	h := r.PathValue("hash")
	if !release.IsHash(h) || !s.hasBlock(h) {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Store) putBlock(w http.ResponseWriter, r *http.Request) {
	h := r.PathValue("hash")
	if !release.IsHash(h) {
		http.Error(w, "a block is named by its sha256: 64 lower-case hex digits", http.StatusBadRequest)
		return
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, release.BlockSize))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		http.Error(w, "a block is at most 65536 bytes", http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		http.Error(w, "reading the block: "+err.Error(), http.StatusBadRequest)
		return
	case len(b) == 0 || release.Hash(b) != h:
		http.Error(w, "the body's sha256 is "+release.Hash(b)+", not the one in the URL", http.StatusBadRequest)
		return
	}
	if s.hasBlock(h) {
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := durable.WriteFile(s.blockPath(h), b); err != nil {
		s.log.Error("releases: storing a block", "block", h, "err", err)
		http.Error(w, "storing the block failed (see the server's log)", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (s *Store) putManifest(w http.ResponseWriter, r *http.Request) {
	board, channel := r.PathValue("board"), r.PathValue("channel")
	if !release.NamePattern.MatchString(board) || !release.NamePattern.MatchString(channel) {
		http.Error(w, "a board or channel is [a-z0-9][a-z0-9-]{0,31}", http.StatusBadRequest)
		return
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, release.MaxSignedSize))
	if err != nil {
		http.Error(w, "reading the manifest: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	m, err := s.Publish(board, channel, b)
	switch {
	case errors.Is(err, errConflict):
		http.Error(w, err.Error(), http.StatusConflict)
		return
	case errors.Is(err, release.ErrMalformed):
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case err != nil:
		s.log.Error("releases: publishing", "board", board, "channel", channel, "err", err)
		http.Error(w, "publishing failed (see the server's log)", http.StatusInternalServerError)
		return
	}
	s.log.Info("releases: published", "board", board, "channel", channel, "version", m.Version, "build", m.Build)
	// Before the transfers: no patch is made from a release that goes.
	if p, err := s.Prune(r.Context()); err != nil {
		s.log.Error("releases: pruning after a publication", "err", err)
	} else if p != (Pruned{}) {
		s.log.Info("releases: pruned", "manifests", p.Manifests, "patches", p.Patches, "blocks", p.Blocks, "bytes", p.Bytes)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(release.Published{Transfers: s.transfers(r.Context(), m)})
}
