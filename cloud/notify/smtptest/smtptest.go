// Package smtptest is an SMTP submission server for tests, on 127.0.0.1:
// EHLO, STARTTLS (with a self-signed certificate the test trusts), AUTH
// PLAIN (only over TLS), MAIL, RCPT, DATA, RSET, NOOP and QUIT, as a
// mail provider's submission port answers them. It keeps the messages it
// accepted, and can refuse the first ones with a temporary error.
package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is one accepted message.
type Message struct {
	From string
	To   []string
	Data string
	// TLS and User say how the client came: over STARTTLS, and
	// authenticated as User.
	TLS  bool
	User string
}

// Server is a running SMTP server.
type Server struct {
	// Addr is "127.0.0.1:port".
	Addr string
	// User and Password are the accepted credentials.
	User, Password string

	ln   net.Listener
	tls  *tls.Config
	pool *x509.CertPool

	mu       sync.Mutex
	msgs     []Message
	failNext int
	attempts int
	noTLS    bool
}

// DisableSTARTTLS makes the server offer no STARTTLS, as a misconfigured
// or downgraded one would.
func (s *Server) DisableSTARTTLS() {
	s.mu.Lock()
	s.noTLS = true
	s.mu.Unlock()
}

// Start starts a server accepting user and password, stopped when the
// test ends.
func Start(tb testing.TB, user, password string) *Server {
	tb.Helper()
	cert, pool, err := selfSigned()
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), User: user, Password: password, ln: ln, pool: pool,
		tls: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go s.serve()
	tb.Cleanup(func() { ln.Close() })
	return s
}

// ClientTLS is the TLS configuration a client needs to trust the server.
func (s *Server) ClientTLS() *tls.Config { return &tls.Config{RootCAs: s.pool} }

// FailNext makes the next n messages fail with a temporary error (451)
// at the end of their DATA.
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	s.failNext = n
	s.mu.Unlock()
}

// Messages returns the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Attempts counts the messages whose DATA ended, accepted or refused.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

func (s *Server) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.session(c)
	}
}

// session speaks SMTP on one connection.
func (s *Server) session(c net.Conn) {
	defer func() { c.Close() }()
	c.SetDeadline(time.Now().Add(time.Minute))
	tp := textproto.NewConn(c)
	reply := func(code int, lines ...string) {
		for i, l := range lines {
			sep := "-"
			if i == len(lines)-1 {
				sep = " "
			}
			tp.PrintfLine("%d%s%s", code, sep, l)
		}
	}
	reply(220, "smtptest ESMTP")
	var (
		tlsOn bool
		user  string
		msg   *Message
	)
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			msg = nil
			ext := []string{"smtptest", "8BITMIME", "SIZE 10240000"}
			s.mu.Lock()
			noTLS := s.noTLS
			s.mu.Unlock()
			switch {
			case tlsOn:
				ext = append(ext, "AUTH PLAIN")
			case !noTLS:
				ext = append(ext, "STARTTLS")
			}
			reply(250, ext...)
		case "STARTTLS":
			if tlsOn {
				reply(503, "already under TLS")
				continue
			}
			reply(220, "go ahead")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, tp, tlsOn, user = tc, textproto.NewConn(tc), true, ""
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			switch {
			case !tlsOn:
				reply(538, "encryption required for authentication")
			case !strings.EqualFold(mech, "PLAIN"):
				reply(504, "unrecognised mechanism")
			default:
				b, err := base64.StdEncoding.DecodeString(resp)
				parts := strings.Split(string(b), "\x00")
				if err != nil || len(parts) != 3 || parts[1] != s.User || parts[2] != s.Password {
					reply(535, "authentication credentials invalid")
					continue
				}
				user = parts[1]
				reply(235, "authenticated")
			}
		case "MAIL":
			if s.User != "" && user == "" {
				reply(530, "authentication required")
				continue
			}
			msg = &Message{From: addr(arg), TLS: tlsOn, User: user}
			reply(250, "ok")
		case "RCPT":
			if msg == nil {
				reply(503, "MAIL first")
				continue
			}
			if strings.Contains(arg, "@refused.example") {
				reply(550, "no such user")
				continue
			}
			msg.To = append(msg.To, addr(arg))
			reply(250, "ok")
		case "DATA":
			if msg == nil || len(msg.To) == 0 {
				reply(503, "RCPT first")
				continue
			}
			reply(354, "end with .")
			b, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			msg.Data = string(b)
			s.mu.Lock()
			s.attempts++
			fail := s.failNext > 0
			if fail {
				s.failNext--
			} else {
				s.msgs = append(s.msgs, *msg)
			}
			s.mu.Unlock()
			msg = nil
			if fail {
				reply(451, "try again later")
			} else {
				reply(250, "queued")
			}
		case "RSET":
			msg = nil
			reply(250, "ok")
		case "NOOP":
			reply(250, "ok")
		case "QUIT":
			reply(221, "bye")
			return
		default:
			reply(500, "unrecognised command")
		}
	}
}

// addr takes the address out of "FROM:<a@b> SIZE=…".
func addr(arg string) string {
	i, j := strings.IndexByte(arg, '<'), strings.IndexByte(arg, '>')
	if i < 0 || j < i {
		return arg
	}
	return arg[i+1 : j]
}

func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "smtptest"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool, nil
}
