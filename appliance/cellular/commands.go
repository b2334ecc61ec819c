package cellular

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lapsebox/lapsebox/appliance/request"
	"github.com/lapsebox/lapsebox/modem"
)

// maxCommandsPerHour bounds the replies modemd sends, whoever texts it:
// two machines answering each other must not run up a bill.
const maxCommandsPerHour = 20

// command handles a message: from an allowed number, "status" is answered
// with a summary, "capture" asks camerad for a picture, "reboot" reboots
// the appliance through gokrazy; anything else from anyone is logged.
// The message is already deleted from the SIM.
func (s *Service) command(ctx context.Context, msg modem.Message) {
	from := strings.Join(strings.Fields(msg.From), "")
	text := strings.TrimSpace(msg.Text)
	word := strings.ToLower(strings.Trim(firstWord(text), ".!"))
	if !slices.Contains(s.Config.Modem.CommandNumbers, from) {
		s.Logf("SMS from %s ignored (not in modem.command_numbers): %.60q", from, text)
		s.count(func(c *counts) { c.ignored++ })
		return
	}
	now := time.Now()
	s.mu.Lock()
	recent := s.commandTimes[:0]
	for _, t := range s.commandTimes {
		if now.Sub(t) < time.Hour {
			recent = append(recent, t)
		}
	}
	s.commandTimes = recent
	if len(recent) >= maxCommandsPerHour {
		s.mu.Unlock()
		s.Logf("SMS command %q from %s not answered: %d commands in the last hour", word, from, maxCommandsPerHour)
		s.count(func(c *counts) { c.ignored++ })
		return
	}
	s.commandTimes = append(s.commandTimes, now)
	s.mu.Unlock()

	s.Logf("SMS command %q from %s", word, from)
	var reply string
	switch word {
	case "status":
		reply = s.summary()
	case "capture":
		err := request.Post(s.requestDir(), request.Capture, request.Request{From: "modemd", Reason: "SMS from " + from, Time: now})
		if err != nil {
			reply = "capture: " + err.Error()
		} else {
			reply = s.Config.Site.Name + ": picture requested; camerad takes it within seconds"
		}
	case "reboot":
		s.reboot(ctx, from)
		s.count(func(c *counts) { c.commands++ })
		return
	default:
		s.count(func(c *counts) { c.ignored++ })
		s.reply(ctx, from, fmt.Sprintf("%s: unknown command %.20q; send status, capture or reboot", s.Config.Site.Name, word))
		return
	}
	s.count(func(c *counts) { c.commands++ })
	s.reply(ctx, from, reply)
}

// reboot answers, then asks gokrazy to reboot, unless an SMS rebooted the
// appliance less than RebootGuard ago.
func (s *Service) reboot(ctx context.Context, from string) {
	last := s.lastReboot()
	if since := time.Since(last); !last.IsZero() && since < s.rebootGuard() {
		s.reply(ctx, from, fmt.Sprintf("%s: rebooted by SMS %s ago; not again before %s", s.Config.Site.Name,
			roundDuration(since), roundDuration(s.rebootGuard())))
		return
	}
	s.reply(ctx, from, s.Config.Site.Name+": rebooting now")
	if err := s.setLastReboot(time.Now()); err != nil {
		s.Logf("reboot: %v (not rebooting: the guard against loops must hold)", err)
		return
	}
	if s.Reboot == nil {
		s.Logf("reboot requested by SMS, but modemd cannot reboot here")
		return
	}
	if err := s.Reboot(ctx); err != nil {
		s.Logf("reboot: %v", err)
		s.reply(ctx, from, s.Config.Site.Name+": reboot failed: "+err.Error())
	}
}

func (s *Service) reply(ctx context.Context, to, text string) {
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := s.mgr.SendSMS(sctx, to, text); err != nil {
		s.Logf("reply to %s: %v", to, err)
	}
}

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}
