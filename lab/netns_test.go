package lab

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// netnsChildEnv marks the copy of the test binary that
// TestNetnsSurvivesIproute2 runs in a private mount namespace.
const netnsChildEnv = "EXSIM_NETNS_TEST_CHILD"

// TestNetnsSurvivesIproute2: a lab namespace created while /run/netns is
// no mount point yet, and then `ip netns add` by someone else (which makes
// /run/netns a mount point by binding it over itself), can still be
// deleted. Before createNetns made /run/netns a shared mount point first,
// the delete failed with "device or resource busy" and the namespace
// stayed until reboot. The steps run in a private mount namespace, where
// /run/netns is unmounted first, so the host's mounts are not touched.
func TestNetnsSurvivesIproute2(t *testing.T) {
	if os.Getenv(netnsChildEnv) != "" {
		netnsChild(t, os.Getenv(netnsChildEnv))
		return
	}
	requireRoot(t)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare not installed (util-linux)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip not installed (iproute2)")
	}
	name := testPrefix()
	// The child's files are plain files on the host (its mounts are
	// private): remove them should it die half-way.
	t.Cleanup(func() {
		os.Remove(filepath.Join(netnsDir, name+"-lab"))
		os.Remove(filepath.Join(netnsDir, name+"-ip"))
	})
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", os.Args[0], "-test.run", "^TestNetnsSurvivesIproute2$", "-test.v")
	cmd.Env = append(os.Environ(), netnsChildEnv+"="+name)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestNetnsSurvivesIproute2") {
		t.Errorf("in a private mount namespace: %v\n%s", err, out)
	}
}

// netnsChild is the test's body in the private mount namespace.
func netnsChild(t *testing.T, name string) {
	// As on a host where no namespace was ever named: /run/netns is a
	// plain directory.
	for unix.Unmount(netnsDir, unix.MNT_DETACH) == nil {
	}
	lab, ip := name+"-lab", name+"-ip"
	if err := createNetns(lab); err != nil {
		t.Fatalf("createNetns: %v", err)
	}
	if out, err := exec.Command("ip", "netns", "add", ip).CombinedOutput(); err != nil {
		deleteNetns(lab)
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	if err := deleteNetns(lab); err != nil {
		t.Errorf("deleteNetns after ip netns add: %v", err)
	}
	if netnsExists(lab) {
		t.Errorf("%s is still there", lab)
	}
	if out, err := exec.Command("ip", "netns", "delete", ip).CombinedOutput(); err != nil {
		t.Errorf("ip netns delete: %v\n%s", err, out)
	}
}
