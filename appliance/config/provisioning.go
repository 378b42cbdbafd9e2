package config

import (
	"fmt"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"
)

// Provisioning says where the box looks for a provisioning stick.
type Provisioning struct {
	// MountRoots are directories where the OS automounts sticks; the
	// bundle is looked for in each, and one and two levels below
	// (/media/LABEL, /media/USER/LABEL). Default /media and /run/media.
	MountRoots []string `yaml:"mount_roots"`
	// BlockDevices watches removable block devices and mounts them
	// read-only itself (default true; needs root, as the service has).
	BlockDevices *bool `yaml:"block_devices"`
	// ExtraDevices are device-name patterns (e.g. "sdb*", "loop7")
	// treated as sticks even though the kernel does not call them
	// removable (card readers wired as fixed disks).
	ExtraDevices []string `yaml:"extra_devices"`
	// Filesystems the box mounts (default vfat, exfat).
	Filesystems []string `yaml:"filesystems"`
	// Interval between looks (default 2s).
	Interval time.Duration `yaml:"interval"`

	line int
}

// Provisioning defaults. Windows has no automount directory (sticks
// get drive letters): a box there looks only in the mount_roots its
// config lists (e.g. `E:\`).
var (
	DefaultMountRoots  = defaultMountRoots()
	DefaultFilesystems = []string{"vfat", "exfat"}
)

func defaultMountRoots() []string {
	if runtime.GOOS == "windows" {
		return []string{}
	}
	return []string{"/media", "/run/media"}
}

const DefaultProvisionInterval = 2 * time.Second

// WatchBlockDevices reports whether block devices are watched.
func (p Provisioning) WatchBlockDevices() bool { return p.BlockDevices == nil || *p.BlockDevices }

var knownFilesystems = []string{"vfat", "exfat", "ext2", "ext3", "ext4"}

func (c *Config) validateProvisioning(d *decoder, root *yaml.Node) {
	p := &c.Provisioning
	if n := findKey(root, "provisioning"); n != nil {
		p.line = n.Line
	}
	fail := func(field, format string, args ...any) {
		d.errs = append(d.errs, &Error{File: c.File, Line: p.line, Field: "provisioning." + field, Msg: fmt.Sprintf(format, args...)})
	}
	if p.MountRoots == nil {
		p.MountRoots = DefaultMountRoots
	}
	if len(p.Filesystems) == 0 {
		p.Filesystems = DefaultFilesystems
	}
	if p.Interval == 0 {
		p.Interval = DefaultProvisionInterval
	}
	for i, r := range p.MountRoots {
		if !filepath.IsAbs(r) {
			fail(fmt.Sprintf("mount_roots[%d]", i), "%q is not an absolute directory", r)
		}
	}
	for i, pat := range p.ExtraDevices {
		if _, err := path.Match(pat, "x"); err != nil || pat == "" || filepath.Base(pat) != pat {
			fail(fmt.Sprintf("extra_devices[%d]", i), "%q is not a device name pattern (e.g. sdb*, loop7)", pat)
		}
	}
	for i, fs := range p.Filesystems {
		if !slices.Contains(knownFilesystems, fs) {
			fail(fmt.Sprintf("filesystems[%d]", i), "%q is not one of %v", fs, knownFilesystems)
		}
	}
	if p.Interval < 500*time.Millisecond || p.Interval > time.Hour {
		fail("interval", "%s is out of range (500ms to 1h)", p.Interval)
	}
}
