package uploadtest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Server is a server program (nginx, Apache, versitygw) that a test runs
// in the foreground on 127.0.0.1 and may stop and start again.
//
// Such a program takes a port number, not a listening socket, so a port
// chosen free may be taken by the time it binds. Start picks a free port,
// starts the program, and counts it as started only once the program's
// own process holds a socket listening on that port (a connection to the
// port could reach whoever took it); when the program exits saying the
// address is in use, Start tries again on another port.
type Server struct {
	// Name names the program in errors ("nginx").
	Name string
	// Dir is where its output goes (Name-N.log, one per start).
	Dir string
	// Command returns the command that runs the program in the
	// foreground, listening on addr ("127.0.0.1:port"). It is called
	// for every start, so that a configuration it writes can name the
	// address.
	Command func(addr string) (*exec.Cmd, error)
	// Logs are files besides its output where the program reports
	// errors; Start shows them when it fails.
	Logs []string
	// Timeout bounds a start (default 30 s).
	Timeout time.Duration

	port   int
	starts int
	moves  int
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

// Addr is the address the server listens on, "127.0.0.1:port" (empty
// before the first start).
func (s *Server) Addr() string {
	if s.port == 0 {
		return ""
	}
	return "127.0.0.1:" + strconv.Itoa(s.port)
}

// Pid is the running program's process ID, 0 when it is stopped (to
// measure its CPU time).
func (s *Server) Pid() int {
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Moves is how many times Start found its port taken and moved on.
func (s *Server) Moves() int { return s.moves }

// Start starts the server, on the port it had before if any: a restarted
// server stays where clients know it unless that port was taken
// meanwhile. Addr says where it is.
func (s *Server) Start() error {
	if s.cmd != nil {
		return fmt.Errorf("%s: already running", s.Name)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for attempt := 0; ; attempt++ {
		if s.port == 0 {
			p, err := freePort()
			if err != nil {
				return err
			}
			s.port = p
		}
		inUse, err := s.startOnce(deadline)
		if err == nil {
			return nil
		}
		if !inUse || attempt >= 5 {
			return err
		}
		s.port = 0 // taken: choose another
		s.moves++
	}
}

// startOnce starts the program on s.port and waits until it listens. It
// reports whether it failed because the port was in use.
func (s *Server) startOnce(deadline time.Time) (inUse bool, err error) {
	cmd, err := s.Command(s.Addr())
	if err != nil {
		return false, fmt.Errorf("%s: %w", s.Name, err)
	}
	s.starts++
	s.log = filepath.Join(s.Dir, fmt.Sprintf("%s-%d.log", s.Name, s.starts))
	out, err := os.Create(s.log)
	if err != nil {
		return false, err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that Stop ends its children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return false, fmt.Errorf("starting %s: %w", s.Name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	for {
		select {
		case <-exited:
			logs := s.Output()
			return strings.Contains(strings.ToLower(logs), "address already in use"),
				fmt.Errorf("%s exited at start on %s: %s", s.Name, s.Addr(), logs)
		default:
		}
		if ok, err := listening(cmd.Process.Pid, s.port); err != nil {
			s.kill(cmd, exited)
			return false, fmt.Errorf("%s: %w", s.Name, err)
		} else if ok {
			s.cmd, s.exited = cmd, exited
			return false, nil
		}
		if time.Now().After(deadline) {
			s.kill(cmd, exited)
			return false, fmt.Errorf("%s does not listen on %s: %s", s.Name, s.Addr(), s.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop ends the server and every process it started, and waits for them.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.kill(s.cmd, s.exited)
	s.cmd = nil
}

// kill sends SIGTERM to the process group, SIGKILL after 5 s, and waits
// until no process of the group is left (Apache's children may outlive
// their parent for a moment).
func (s *Server) kill(cmd *exec.Cmd, exited chan struct{}) {
	pg := -cmd.Process.Pid
	syscall.Kill(pg, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		syscall.Kill(pg, syscall.SIGKILL)
		<-exited
	}
	for i := 0; syscall.Kill(pg, 0) == nil; i++ {
		if i == 250 {
			syscall.Kill(pg, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Output is what the program wrote at its last start, and its Logs.
func (s *Server) Output() string {
	var b strings.Builder
	for _, f := range append([]string{s.log}, s.Logs...) {
		data, _ := os.ReadFile(f)
		b.Write(data)
	}
	return b.String()
}

// freePort returns a port that was free on 127.0.0.1 a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("uploadtest: choosing a port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// listening reports whether process pid holds a TCP socket listening on
// 127.0.0.1:port (or on every address), from /proc.
func listening(pid, port int) (bool, error) {
	inodes, err := listenInodes(port)
	if err != nil || len(inodes) == 0 {
		return false, err
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil // it just exited
		}
		return false, err
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(dir, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") && inodes[strings.TrimSuffix(link[len("socket:["):], "]")] {
			return true, nil
		}
	}
	return false, nil
}

// listenInodes returns the inodes of the IPv4 sockets listening on port
// of 127.0.0.1 or 0.0.0.0, from /proc/net/tcp.
func listenInodes(port int) (map[string]bool, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	loopback := fmt.Sprintf("0100007F:%04X", port)
	any := fmt.Sprintf("00000000:%04X", port)
	inodes := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		f := strings.Fields(sc.Text())
		if len(f) >= 10 && (f[1] == loopback || f[1] == any) && f[3] == "0A" {
			inodes[f[9]] = true
		}
	}
	return inodes, sc.Err()
}
