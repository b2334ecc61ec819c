package config

// Status configures statusd, the appliance's own web page.
type Status struct {
	// PublicSummary opens a read-only summary (the latest picture, when
	// it was taken, healthy or not) to anyone who reaches the device,
	// without gokrazy's password: for a live-cam page. It carries no
	// secret, URL, path or configuration. Everything else statusd serves
	// still needs the password.
	PublicSummary bool
}

type fileStatus struct {
	PublicSummary bool `json:"public_summary"`
}

func (s Status) file() fileStatus { return fileStatus{PublicSummary: s.PublicSummary} }
