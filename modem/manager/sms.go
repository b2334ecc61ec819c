package manager

import (
	"context"
	"errors"

	"github.com/lapsebox/lapsebox/modem"
)

// takeSMS reads the message at index, deletes it from the SIM (whatever
// it says: the storage must never fill), and hands it on.
func (s *session) takeSMS(ctx context.Context, index int) {
	msg, err := modem.ReadSMS(ctx, s.c, index)
	if errors.Is(err, modem.ErrNoMessage) {
		return
	}
	if derr := modem.DeleteSMS(ctx, s.c, index); derr != nil {
		s.m.cfg.Logf("modem: deleting message %d: %v", index, derr)
	}
	if err != nil {
		s.m.cfg.Logf("modem: reading message %d: %v (deleted)", index, err)
		return
	}
	s.deliver(msg)
}

// deliver hands a message to OnMessage, through a queue that one
// goroutine drains: messages are handled one at a time, in the order
// they arrived (two "reboot" at once must not both reboot).
func (s *session) deliver(msg modem.Message) {
	s.m.update(func(st *State) { st.SMSReceived++ })
	select {
	case s.m.inbox <- msg:
	default:
		s.m.cfg.Logf("modem: message from %s dropped: %d messages wait to be handled", msg.From, cap(s.m.inbox))
	}
}

// handleMessages runs OnMessage for each message, one at a time.
func (m *Manager) handleMessages(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-m.inbox:
			if f := m.cfg.OnMessage; f != nil {
				f(msg)
			}
		}
	}
}

// sweepSMS reads every message left on the SIM (arrived while modemd was
// down, or announced by a URC that was lost). If the storage stays full,
// everything on it is deleted: a full SIM refuses new messages.
func (s *session) sweepSMS(ctx context.Context) {
	used, total, err := modem.SMSStorage(ctx, s.c)
	if err != nil || used == 0 {
		return
	}
	for i := 0; i <= total && used > 0; i++ { // 0- or 1-based, by firmware
		msg, err := modem.ReadSMS(ctx, s.c, i)
		if errors.Is(err, modem.ErrNoMessage) {
			continue
		}
		used--
		modem.DeleteSMS(ctx, s.c, i)
		if err == nil {
			s.deliver(msg)
		}
	}
	if after, _, err := modem.SMSStorage(ctx, s.c); err == nil && after >= total {
		s.m.cfg.Logf("modem: message storage still full after reading it: deleting everything")
		modem.DeleteAllSMS(ctx, s.c)
	}
}
