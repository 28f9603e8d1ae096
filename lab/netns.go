//go:build linux

package lab

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDirMu serializes making /run/netns a mount point: two goroutines
// that both found it none would stack two bind mounts.
var netnsDirMu sync.Mutex

// shareNetnsDir makes /run/netns a shared mount point of its own before a
// namespace is mounted in it, as `ip netns add` does. Without it, the
// first `ip netns add` anyone runs later bind-mounts the directory over
// itself (recursively): the lab's namespace mounts are copied into the new
// mount and the originals stay hidden below it, so that neither lab down
// nor `ip netns delete` can remove them ("device or resource busy").
func shareNetnsDir() error {
	netnsDirMu.Lock()
	defer netnsDirMu.Unlock()
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return err
	}
	err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet
		if err = unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err == nil {
			err = unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		}
	}
	if err != nil {
		return fmt.Errorf("%s: making it a shared mount point, as ip netns add does: %w", netnsDir, err)
	}
	return nil
}

// createNetns creates the named network namespace (like `ip netns add`)
// and leaves the calling thread where it was.
func createNetns(name string) error {
	if err := shareNetnsDir(); err != nil {
		return err
	}
	var err error
	if lerr := lockedAndBack(name, func() error {
		var ns netns.NsHandle
		ns, err = netns.NewNamed(name) // switches the thread into it
		if err == nil {
			ns.Close()
		}
		return nil
	}); lerr != nil {
		return lerr
	}
	switch {
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("netns %s exists already (is a lab with this --prefix up? exsim lab down --prefix ...)", name)
	case err != nil:
		return fmt.Errorf("netns %s: %w", name, err)
	}
	return nil
}

// lockedAndBack runs fn on a locked OS thread that fn may switch into
// namespace name, then switches the thread back to the namespace it was
// in and unlocks it.
func lockedAndBack(name string, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: %w", err)
	}
	defer orig.Close()
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// The thread stays locked to this goroutine and in the wrong
		// namespace; the runtime discards it when the goroutine exits.
		return fmt.Errorf("netns: back from %s: %w", name, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// deleteNetns removes a named namespace (like `ip netns delete`); its
// links go with it once no process is left inside. A missing one is no
// error.
func deleteNetns(name string) error {
	p := filepath.Join(netnsDir, name)
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("netns %s: unmount: %w", name, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("netns %s: %w", name, err)
	}
	return nil
}

// netnsExists reports whether the named namespace exists.
func netnsExists(name string) bool {
	_, err := os.Lstat(filepath.Join(netnsDir, name))
	return err == nil
}

// listNetns returns the named namespaces of a lab prefix ("exsim-...").
// Prefixes have no hyphen, so "exsim-" never matches another lab's.
func listNetns(prefix string) ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("netns: %w", err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix+"-") {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

// nsID identifies a namespace: the nsfs device and inode that both the
// /run/netns bind mount and /proc/PID/ns/net show.
type nsID struct{ dev, ino uint64 }

func statNetns(path string) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsID{}, err
	}
	return nsID{dev: st.Dev, ino: st.Ino}, nil
}

// writeSysctl sets /proc/sys/<key> inside namespace ns (net.* sysctls
// are per namespace and resolve against the calling thread's). A key the
// kernel lacks is skipped when optional.
func writeSysctl(ns, key, value string, optional bool) error {
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	return inNetns(ns, func() error {
		err := os.WriteFile(path, []byte(value), 0o644)
		if optional && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("sysctl %s=%s in %s: %w", key, value, ns, err)
		}
		return nil
	})
}

// readSysctl reads /proc/sys/<key> inside namespace ns.
func readSysctl(ns, key string) (string, error) {
	var v string
	err := inNetns(ns, func() error {
		b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
		v = strings.TrimSpace(string(b))
		return err
	})
	return v, err
}
