package statusfile

import "time"

// Uploads is uploadd.json: one entry per upload target.
type Uploads struct {
	Updated time.Time `json:"updated"`
	Targets []Target  `json:"targets"`
	// Derived is how the derived pictures of all targets were made.
	Derived *Derived `json:"derived,omitempty"`
}

// Derived counts, since uploadd started, the photos decoded for derived
// pictures: each is decoded once for every derived target that owes it.
type Derived struct {
	Decodes int `json:"decodes"` // photos decoded
	// Shared counts the sends whose pictures came from a decode made for
	// another target.
	Shared int `json:"shared"`
	// Evicted counts the pictures made for a target and dropped before it
	// sent them (memory budget or age); that target decodes the photo again.
	Evicted int `json:"evicted"`
	// KeptBytes is what the pictures waiting for their targets take now.
	KeptBytes int64 `json:"keptBytes"`
}

// Target is one target's outbox and transfers.
type Target struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	State string `json:"state"` // "idle", "sending", "closed" (outside its windows), "held"
	// Held says why a held target sends nothing (the modem's monthly
	// data cap is reached and it is not essential).
	Held string `json:"held,omitempty"`
	// WindowOpens is when a closed target opens again.
	WindowOpens time.Time `json:"windowOpens,omitzero"`
	Current     string    `json:"current,omitempty"` // the photo being sent

	Pending       int       `json:"pending"`
	PendingBytes  int64     `json:"pendingBytes"`
	OldestPending time.Time `json:"oldestPending,omitzero"` // capture time
	Parked        int       `json:"parked"`
	ParkedReasons []string  `json:"parkedReasons,omitempty"` // distinct, a few

	Sent      int   `json:"sent"` // since uploadd started
	SentBytes int64 `json:"sentBytes"`
	Skipped   int   `json:"skipped"` // by policy (stale live-cam pictures, interval)

	LastSuccess   time.Time `json:"lastSuccess,omitzero"`
	LastError     string    `json:"lastError,omitempty"`
	LastErrorTime time.Time `json:"lastErrorTime,omitzero"`

	// RateBytesPerSecond is the recent throughput; DrainSeconds estimates
	// the time to send what is pending at that rate (or at the cap when
	// idle), -1 when unknown.
	RateBytesPerSecond float64 `json:"rateBytesPerSecond"`
	DrainSeconds       float64 `json:"drainSeconds"`

	// LastReconcile is the last comparison of the target with the store.
	LastReconcile *Reconcile `json:"lastReconcile,omitempty"`
}

// Reconcile is one comparison of a target with the store.
type Reconcile struct {
	Target   string    `json:"target"`
	Time     time.Time `json:"time"`
	Stored   int       `json:"stored"`   // photos in the store the target should have
	Present  int       `json:"present"`  // of those, the target holds
	Pending  int       `json:"pending"`  // still in the outbox
	Requeued int       `json:"requeued"` // neither: queued again
}
