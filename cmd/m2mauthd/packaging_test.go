package main

import (
	"debug/elf"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildStatic builds m2mauthd with CGO_ENABLED=0 into dir.
func buildStatic(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "m2mauthd")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// The Dockerfile's binary: static (no ELF interpreter), and it serves as an
// unprivileged user and stops cleanly on SIGTERM.
func TestStaticBinaryRunsAsNonRoot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	// A world-readable directory: the unprivileged user must read the policy.
	dir, err := os.MkdirTemp("", "m2mauthd-static-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := buildStatic(t, dir)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary is dynamically linked")
		}
	}
	f.Close()

	is := newIssuer(t)
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(policyDoc(issuerBlock("main", is))), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "-policy", policy, "-http", addr)
	if os.Getuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	var logs syncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("m2mauthd exited: %v\n%s", waitErr, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving after 20s:\n%s", logs.String())
		}
	}
	if s := forward(t, addr, "nginx", "GET", "/orders/1", "").StatusCode; s != 401 {
		t.Fatalf("status %d", s)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", waitErr, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("still running 20s after SIGTERM")
	}
}

// The systemd unit passes systemd-analyze verify (its ExecStart pointed at
// a built binary: verify checks that the file exists).
func TestSystemdUnitVerifies(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	unit, err := os.ReadFile("examples/m2mauthd.service")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "m2mauthd.service")
	u := strings.Replace(string(unit), "/usr/local/bin/m2mauthd", "/bin/true", 1)
	if err := os.WriteFile(path, []byte(u), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "m2mauthd.service") {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
