// Package reload hands new settings to the running daemon: `memory-monitor reload`, run
// by systemd as ExecReload= with the freshly re-read EnvironmentFile, sends the
// MEMORY_MONITOR_* variables it was given over a Unix socket in the service's
// RuntimeDirectory=; the daemon validates them with the same code as at start, applies
// them between two loop iterations, and only then replies, so that `systemctl reload`
// returns when the new settings are in force, or fails with the reason. See DESIGN.md.
package reload

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/memory-monitor/memory-monitor/internal/config"
)

// ProtocolVersion is sent in every request; a daemon refuses versions it does not know,
// so an upgraded client never half-configures an older daemon.
const ProtocolVersion = 1

// SocketName is the socket's name in the RuntimeDirectory= ($RUNTIME_DIRECTORY).
const SocketName = "control"

// MsgReloaded is the MESSAGE_ID of the daemon's log entry for applied settings.
const MsgReloaded = "9dcb8340472542baaa0dc202594e3511"

// maxRequest bounds a request: the environment of the daemon is a few hundred bytes.
const maxRequest = 1 << 20

// readTimeout bounds how long a connected client may take to send its request.
const readTimeout = 5 * time.Second

// Request is what the client sends: one JSON object.
type Request struct {
	Version int               `json:"version"`
	Env     map[string]string `json:"env"` // the daemon's variables, as the client got them
}

// Reply is what the daemon answers, once the settings are in force or refused.
type Reply struct {
	OK bool `json:"ok"`
	// Refused: the settings were not applied because of what they say (a bad value, a
	// setting that cannot change while running); Error says why. Otherwise a failed
	// reply is a failure of the hand-over itself.
	Refused bool   `json:"refused,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Validator turns the variables into the daemon's configuration exactly as at start.
type Validator func(env map[string]string) (config.Config, error)

// Applier puts a validated configuration in force and returns once it is (between two
// loop iterations), or with the reason it refuses it; the old settings then stay.
type Applier func(config.Config) error

// Server accepts reload requests on a Unix socket.
type Server struct {
	ln       *net.UnixListener
	path     string
	validate Validator
	apply    Applier
	allowed  []uint32

	closeOnce sync.Once
}

// ServerOptions configure Listen.
type ServerOptions struct {
	Path     string    // the socket, normally $RUNTIME_DIRECTORY/control
	Validate Validator // required
	Apply    Applier   // required
	// AllowUIDs may send requests (checked with SO_PEERCRED); default: the daemon's own
	// user (ExecReload= runs as User= too) and root.
	AllowUIDs []uint32
}

// Listen creates the socket (replacing a stale one), readable and writable by the
// daemon's user only.
func Listen(o ServerOptions) (*Server, error) {
	if o.Validate == nil || o.Apply == nil || o.Path == "" {
		return nil, errors.New("reload: Path, Validate and Apply are required")
	}
	if fi, err := os.Lstat(o.Path); err == nil && fi.Mode().Type() == fs.ModeSocket {
		os.Remove(o.Path) // left by a daemon that was killed; a live one holds no other copy
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: o.Path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("reload: listen on %s: %w", o.Path, err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(o.Path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("reload: %w", err)
	}
	allowed := o.AllowUIDs
	if allowed == nil {
		allowed = []uint32{uint32(os.Geteuid()), 0}
	}
	return &Server{ln: ln, path: o.Path, validate: o.Validate, apply: o.Apply, allowed: allowed}, nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Serve handles requests one at a time until ctx ends or the server is closed; it then
// removes the socket. Problems with single connections are the client's to report and
// never stop the server.
func (s *Server) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("reload: accept: %w", err)
		}
		s.handle(conn)
	}
}

// Close stops Serve and removes the socket.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() { err = s.ln.Close() })
	return err
}

func (s *Server) handle(conn *net.UnixConn) {
	defer conn.Close()
	reply := s.serve(conn)
	conn.SetWriteDeadline(time.Now().Add(readTimeout))
	json.NewEncoder(conn).Encode(reply)
}

func (s *Server) serve(conn *net.UnixConn) Reply {
	uid, err := peerUID(conn)
	if err != nil {
		return Reply{Error: fmt.Sprintf("cannot tell who is asking: %v", err)}
	}
	if !slices.Contains(s.allowed, uid) {
		return Reply{Error: fmt.Sprintf("uid %d may not reload the daemon", uid)}
	}
	conn.SetReadDeadline(time.Now().Add(readTimeout))
	var req Request
	if err := json.NewDecoder(io.LimitReader(conn, maxRequest)).Decode(&req); err != nil {
		return Reply{Error: fmt.Sprintf("bad request: %v", err)}
	}
	if req.Version != ProtocolVersion {
		return Reply{Error: fmt.Sprintf("protocol version %d not supported (the daemon speaks %d): restart the service after an upgrade", req.Version, ProtocolVersion)}
	}
	cfg, err := s.validate(req.Env)
	if err != nil {
		return Reply{Refused: true, Error: err.Error()}
	}
	// No deadline while the daemon applies: that takes until the loop's next turn.
	conn.SetReadDeadline(time.Time{})
	if err := s.apply(cfg); err != nil {
		return Reply{Refused: true, Error: err.Error()}
	}
	return Reply{OK: true}
}

// peerUID is the user of the process at the other end, as the kernel recorded it.
func peerUID(conn *net.UnixConn) (uint32, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, fmt.Errorf("SO_PEERCRED: %w", serr)
	}
	return cred.Uid, nil
}

// ErrRefused wraps the daemon's reason for refusing the settings: `memory-monitor
// reload` exits 2 for it, like a bad value at start.
var ErrRefused = errors.New("the daemon refused the settings")

// Send asks the daemon listening on path to apply env and waits (bounded by ctx) until
// it has, or has refused. A refusal is an error wrapping ErrRefused; any other error
// means the hand-over failed (no daemon, wrong peer, timeout) and nothing changed, or,
// after a timeout, that the daemon may still apply the settings.
func Send(ctx context.Context, path string, env map[string]string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("reload: is the daemon running? %w", err)
	}
	conn := c.(*net.UnixConn)
	defer conn.Close()
	// The socket lives in a directory only the service user can enter; still, talk only
	// to a daemon of that user or root.
	uid, err := peerUID(conn)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	if uid != uint32(os.Geteuid()) && uid != 0 {
		return fmt.Errorf("reload: %s belongs to uid %d, not to the daemon's user", path, uid)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	// A daemon that refuses the peer answers without reading the request: the write may
	// then fail while the answer waits to be read.
	werr := json.NewEncoder(conn).Encode(Request{Version: ProtocolVersion, Env: env})
	var reply Reply
	if err := json.NewDecoder(bufio.NewReader(io.LimitReader(conn, maxRequest))).Decode(&reply); err != nil {
		if werr != nil {
			return fmt.Errorf("reload: send: %w", ctxErr(ctx, werr))
		}
		return fmt.Errorf("reload: no answer from the daemon: %w", ctxErr(ctx, err))
	}
	switch {
	case reply.OK:
		return nil
	case reply.Refused:
		return fmt.Errorf("%w: %s", ErrRefused, reply.Error)
	}
	return fmt.Errorf("reload: %s", reply.Error)
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
