package gallery

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/lapsebox/lapsebox/cloud/operator"
	"github.com/lapsebox/lapsebox/cloud/state"
)

// LinksPath is the operators' page of public links.
const LinksPath = "/fleet/links"

// LinksHandler serves the operators' page of public links: every link
// with its camera and state, a form to make one (its link shown once, on
// the answer) and a button to revoke each. Serve it behind
// operator.Auth.Require, which checks the session, the origin and the
// forms' CSRF token:
//
//	GET  /fleet/links          the links
//	POST /fleet/links/add      device, note: a new link
//	POST /fleet/links/revoke   id: revoke it
//
// publicURL ("https://cloud.example.com", may be empty) prefixes the new
// link shown.
func (s *Service) LinksHandler(publicURL string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+LinksPath, func(w http.ResponseWriter, r *http.Request) { s.links(w, r, nil) })
	mux.HandleFunc("POST "+LinksPath+"/add", func(w http.ResponseWriter, r *http.Request) {
		device, note := r.PostFormValue("device"), strings.TrimSpace(r.PostFormValue("note"))
		if len(note) > 200 {
			note = strings.ToValidUTF8(note[:200], "")
		}
		id, token, err := NewLink(r.Context(), s.db, device, note, s.cfg.Now())
		if errors.Is(err, state.ErrNotFound) {
			http.Error(w, "no such device", http.StatusBadRequest)
			return
		}
		if err != nil {
			s.serverError(w, "making a link", err)
			return
		}
		s.log.Info("gallery: an operator made a public link", "operator", operator.SessionOf(r.Context()).Operator, "device", device, "link", id)
		s.links(w, r, map[string]any{"NewID": id, "NewDevice": device, "NewLink": strings.TrimSuffix(publicURL, "/") + LinkPath(token)})
	})
	mux.HandleFunc("POST "+LinksPath+"/revoke", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
		if err == nil {
			err = s.db.RevokeLink(r.Context(), id, s.cfg.Now())
		}
		if err != nil && !errors.Is(err, state.ErrNotFound) {
			s.serverError(w, "revoking a link", err)
			return
		}
		if err == nil {
			s.log.Info("gallery: an operator revoked a public link", "operator", operator.SessionOf(r.Context()).Operator, "link", id)
		}
		http.Redirect(w, r, LinksPath, http.StatusSeeOther)
	})
	return mux
}

// linkRow is a link on the operators' page.
type linkRow struct {
	state.Link
	Made, Revoked string
}

func (s *Service) links(w http.ResponseWriter, r *http.Request, data map[string]any) {
	ls, err := s.db.Links(r.Context())
	if err != nil {
		s.serverError(w, "listing links", err)
		return
	}
	ds, err := s.db.Devices(r.Context())
	if err != nil {
		s.serverError(w, "listing devices", err)
		return
	}
	if data == nil {
		data = map[string]any{}
	}
	rows := make([]linkRow, len(ls))
	for i, l := range ls {
		rows[i] = linkRow{Link: l, Made: l.Created.In(s.cfg.Location).Format("2006-01-02 15:04")}
		if !l.Revoked.IsZero() {
			rows[i].Revoked = l.Revoked.In(s.cfg.Location).Format("2006-01-02 15:04")
		}
	}
	data["Links"], data["Devices"], data["CSRF"] = rows, ds, operator.SessionOf(r.Context()).CSRF
	data["Path"] = LinksPath
	s.render(w, "links", data)
}
