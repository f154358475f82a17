package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// hydraVersion is the Hydra release the suite is written against.
const hydraVersion = "v2.3.0"

// readyTimeout bounds how long Hydra may take to answer /health/ready on
// both ports (it takes well under a second on a 2-core machine).
const readyTimeout = 60 * time.Second

// hydra is the Hydra process shared by the tests of the run (nil when
// HYDRA_BIN is unset). Tests that change Hydra's keys or stop it start
// their own with startPrivateHydra.
var hydra *hydraProcess

// hydraBin is HYDRA_BIN.
var hydraBin string

// procs tracks every Hydra started, so that an interrupt kills them all.
var procs struct {
	sync.Mutex
	list []*hydraProcess
}

func track(h *hydraProcess) {
	procs.Lock()
	defer procs.Unlock()
	procs.list = append(procs.list, h)
}

// stopAll kills every Hydra started by this run.
func stopAll() {
	procs.Lock()
	list := append([]*hydraProcess(nil), procs.list...)
	procs.Unlock()
	for _, h := range list {
		h.stop()
	}
}

// hydraProcess is one running `hydra serve all`.
type hydraProcess struct {
	bin       string
	dir       string // temp dir: config, HOME, log
	publicURL string // http://127.0.0.1:PORT (also the issuer)
	adminURL  string
	cmd       *exec.Cmd
	exited    chan struct{} // closed when the process has been reaped
	waitErr   error         // valid after exited is closed
	log       *syncBuffer

	stopOnce sync.Once
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) (code int) {
	bin := os.Getenv("HYDRA_BIN")
	if bin == "" {
		fmt.Fprintln(os.Stderr, "e2e: HYDRA_BIN is not set: every end-to-end test is skipped. "+
			"Run .ci/e2e-hydra.sh (it builds Ory Hydra "+hydraVersion+" once and sets HYDRA_BIN).")
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "m2mauth-e2e-hydra-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	hydraBin = bin
	// Kill every Hydra whatever happens: normal end, failure, panic in
	// TestMain's goroutine (deferred), an interrupt (signal handler below).
	// A panic in a test goroutine or a -timeout kills the test binary
	// without running defers; Pdeathsig (set in startHydraOnce) makes the
	// kernel kill Hydra then.
	defer stopAll()
	stopSignals := killOnSignal()
	defer stopSignals()

	h, err := startHydra(bin, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: starting Hydra:", err)
		return 1
	}
	hydra = h

	code = m.Run()

	stopAll()
	stopSignals()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: goroutine leak:", err)
			code = 1
		}
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "e2e: Hydra log (last 4 KiB):\n%s\n", h.log.tail(4096))
	}
	return code
}

// killOnSignal kills every Hydra and exits when the run is interrupted.
// The returned func stops the handler (idempotent).
func killOnSignal() func() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	var once sync.Once
	go func() {
		select {
		case s := <-ch:
			stopAll()
			fmt.Fprintf(os.Stderr, "e2e: %v: Hydra killed\n", s)
			os.Exit(2)
		case <-done:
		}
	}()
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
		})
	}
}

// freePort returns a port that was free on 127.0.0.1 a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startHydra starts Hydra in dir, waits until it is ready and installs its
// signing keys (seedKeys), retrying with new ports when a port was taken
// between choosing and binding.
func startHydra(bin, dir string) (*hydraProcess, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		h, err := startHydraOnce(bin, dir)
		if err == nil {
			return h, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func startHydraOnce(bin, dir string) (*hydraProcess, error) {
	pub, err := freePort()
	if err != nil {
		return nil, err
	}
	adm, err := freePort()
	if err != nil {
		return nil, err
	}
	if pub == adm {
		return nil, errors.New("same port chosen twice")
	}
	h := &hydraProcess{
		bin:       bin,
		dir:       dir,
		publicURL: fmt.Sprintf("http://127.0.0.1:%d", pub),
		adminURL:  fmt.Sprintf("http://127.0.0.1:%d", adm),
		exited:    make(chan struct{}),
		log:       &syncBuffer{max: 1 << 20},
	}
	cfg := fmt.Sprintf(`dsn: memory
serve:
  public:
    host: 127.0.0.1
    port: %d
  admin:
    host: 127.0.0.1
    port: %d
urls:
  self:
    issuer: %s
strategies:
  access_token: jwt
secrets:
  system:
    - m2mauth-e2e-test-only-system-secret-0123456789
log:
  level: info
  leak_sensitive_values: false
`, pub, adm, h.publicURL)
	cfgPath := filepath.Join(dir, "hydra.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}

	cmd := exec.Command(bin, "serve", "all", "--dev", "--sqa-opt-out", "-c", cfgPath)
	cmd.Dir = dir
	// A clean environment: Hydra reads its configuration from environment
	// variables too (DSN, SERVE_PUBLIC_PORT, ...), which must not leak in.
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "TMPDIR=" + os.TempDir()}
	cmd.Stdout = h.log
	cmd.Stderr = h.log
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // its own process group: stop kills the whole group
		Pdeathsig: syscall.SIGKILL, // killed by the kernel if the test binary dies first
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	h.cmd = cmd
	track(h)
	go func() {
		h.waitErr = cmd.Wait()
		close(h.exited)
	}()

	if err := h.waitReady(readyTimeout); err != nil {
		h.stop()
		return nil, fmt.Errorf("%w\nHydra log:\n%s", err, h.log.tail(4096))
	}
	if err := h.seedKeys(); err != nil {
		h.stop()
		return nil, fmt.Errorf("installing Hydra's keys: %w\nHydra log:\n%s", err, h.log.tail(4096))
	}
	return h, nil
}

// keygenTimeout bounds an admin call, which may make Hydra generate an RSA
// key (seconds on a loaded 2-core machine).
const keygenTimeout = 3 * time.Minute

// waitReady polls /health/ready on both ports until both answer 200, the
// process exits, or timeout passes.
func (h *hydraProcess) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok := true
		for _, base := range []string{h.publicURL, h.adminURL} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/health/ready", nil)
			resp, err := client.Do(req)
			if err != nil {
				ok = false
				break
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-h.exited:
			return fmt.Errorf("hydra exited before it was ready: %v", h.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("hydra not ready on %s and %s after %v", h.publicURL, h.adminURL, timeout)
		case <-tick.C:
		}
	}
}

// stop kills Hydra's process group and reaps it. Safe to call many times
// and concurrently.
func (h *hydraProcess) stop() {
	h.stopOnce.Do(func() {
		if h.cmd == nil || h.cmd.Process == nil {
			return
		}
		// Negative pid: the whole process group.
		_ = syscall.Kill(-h.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-h.exited:
		case <-time.After(30 * time.Second):
			fmt.Fprintln(os.Stderr, "e2e: Hydra did not exit 30 s after SIGKILL")
		}
	})
}

// running reports whether the process is still alive.
func (h *hydraProcess) running() bool {
	select {
	case <-h.exited:
		return false
	default:
		return true
	}
}

// startPrivateHydra starts a Hydra of t's own (for tests that rotate its
// keys or stop it), killed when t ends. It skips t without HYDRA_BIN.
func startPrivateHydra(t testing.TB) *hydraProcess {
	t.Helper()
	needHydra(t)
	h, err := startHydra(hydraBin, t.TempDir())
	if err != nil {
		t.Fatalf("starting a private Hydra: %v", err)
	}
	t.Cleanup(func() {
		h.stop()
		if t.Failed() {
			t.Logf("private Hydra log (last 4 KiB):\n%s", h.log.tail(4096))
		}
	})
	return h
}

// needHydra skips t when the suite runs without HYDRA_BIN.
func needHydra(t testing.TB) *hydraProcess {
	t.Helper()
	if hydra == nil {
		t.Skip("HYDRA_BIN is not set; run .ci/e2e-hydra.sh to build Ory Hydra " + hydraVersion + " and run this suite")
	}
	if !hydra.running() {
		t.Fatal("Hydra is no longer running")
	}
	return hydra
}

// syncBuffer collects Hydra's output, keeping at most max bytes (the most
// recent).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *syncBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.Bytes()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return string(s)
}

// discovery is the part of Hydra's OpenID configuration the suite uses.
type discovery struct {
	Issuer        string `json:"issuer"`
	TokenEndpoint string `json:"token_endpoint"`
	JWKSURI       string `json:"jwks_uri"`
}

// getJSON GETs url and decodes a 200 JSON answer into v.
func getJSON(ctx context.Context, c *http.Client, url string, v any) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return resp.Header, json.NewDecoder(resp.Body).Decode(v)
}
