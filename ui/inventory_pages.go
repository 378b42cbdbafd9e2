package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

func init() { pages = append(pages, (*Server).inventoryPages) }

// InventoryBackend is what the inventory pages read and change: the
// devices discovery found, the technicians' decisions about them and the
// discovery subnets.
type InventoryBackend interface {
	// InventoryDevices lists every discovered device; errors are
	// internal.
	InventoryDevices() ([]InventoryDeviceView, error)
	// InventoryDevice is one device by key; ENOTFOUND when none.
	InventoryDevice(key string) (InventoryDeviceView, error)
	// InventoryCSV writes the export.
	InventoryCSV(w io.Writer) error
	// DiscoverySubnets are the configured subnets, then the box's
	// connected ones (suggestions).
	DiscoverySubnets() []SubnetView
	// SetSubnet enables or disables a subnet in the config (a *FormError
	// when the config refuses it).
	SetSubnet(cidr string, enabled bool, user string) error
	// ScanNow queues a sweep of an enabled subnet and says how long it
	// takes at the rate ceiling (EINVALID for a subnet not enabled).
	ScanNow(cidr string) (string, error)
	// Decide records a technician's decision about device key.
	Decide(key string, d DecisionForm, user string) error
	// Merge merges record drop into keep.
	Merge(keep, drop, user string) error
	// DeviceClasses are the classes a device can be given.
	DeviceClasses() []string
	// Template is the check template of device key: the checks it can
	// answer, from its last sweep.
	Template(key string) (TemplateView, error)
	// ApplyTemplate runs each new check of the template once and turns
	// on those that answer (a new config version).
	ApplyTemplate(ctx context.Context, key, user string) (TemplateView, error)
}

// TemplateView is a device's check template, planned or applied.
type TemplateView struct {
	Device string
	Checks []TemplateCheckView
	// Applied: the checks carry their trial runs.
	Applied bool
}

// TemplateCheckView is one check of a template.
type TemplateCheckView struct {
	ID, Kind, Target string
	Status, Detail   string
	Added            bool
	Reason           string
}

// InventoryDeviceView is one discovered device.
type InventoryDeviceView struct {
	Key, Name string
	// Class is the one in force; SweepClass the sweep's; ClassSet says
	// a technician chose Class.
	Class, SweepClass string
	ClassSet          bool
	Confidence        float64
	Evidence          []string
	IP, MAC, Vendor   string
	// SNMPDescr and SNMPObjectID are what its SNMP agent said (model,
	// firmware as the vendor words them).
	SNMPDescr, SNMPObjectID string
	// Model, Serial and Firmware are ENTITY-MIB's.
	Model, Serial, Firmware string
	Subnet                  string
	FirstSeen, LastSeen     time.Time
	Gone, Ignored           bool
	Labels                  []string // key=value, sorted
	Ports                   []int
	Addresses, MACs         []SeenView
	Merged                  []string
	DecidedBy               string
	DecidedAt               time.Time
	// Agent is the paired agent serving its address (nil: none).
	Agent     *InventoryView
	AgentName string
}

// SeenView is a value a device had, and when.
type SeenView struct {
	Value       string
	First, Last time.Time
}

// SubnetView is a discovery subnet.
type SubnetView struct {
	CIDR                                            string
	Configured, Enabled, Suggested, Queued, Running bool
	LastSweep                                       time.Time
	// Plan says how long a sweep takes at the rate ceiling.
	Plan string
}

// DecisionForm is a technician's decision as the device form sends it.
type DecisionForm struct {
	Class, Name string
	// Labels are key=value lines.
	Labels  map[string]string
	Ignored bool
}

// InventoryPageView is the inventory page.
type InventoryPageView struct {
	Q                     string
	Devices               []InventoryDeviceView
	Subnets               []SubnetView
	Msg, Err, CSRF        string
	CanAct, CanConfigure  bool
	Present, Gone, Hidden int
}

// InventoryDevicePageView is one device's inventory page.
type InventoryDevicePageView struct {
	D        InventoryDeviceView
	Template TemplateView
	// CanConfigure: the user may apply the template (a config change).
	CanConfigure bool
	Others       []InventoryDeviceView // records that can be merged into it
	Classes      []string
	Msg, Err     string
	CSRF         string
	CanAct       bool
}

func (s *Server) inventoryPages() {
	b := s.o.Inventory
	if b == nil {
		return
	}
	s.handle("GET", "/inventory", RoleViewer, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		return s.renderInventory(b, w, r, sess, r.URL.Query().Get("msg"), "")
	})
	s.handle("GET", "/inventory.csv", RoleViewer, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="inventory-`+s.o.Clock.Now().UTC().Format("2006-01-02")+`.csv"`)
		return b.InventoryCSV(w)
	})
	s.handle("POST", "/inventory/subnets", RoleAdmin, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		cidr, enabled := strings.TrimSpace(r.PostForm.Get("cidr")), r.PostForm.Get("enabled") == "true"
		if err := b.SetSubnet(cidr, enabled, sess.User); err != nil {
			var fe *FormError
			if errors.As(err, &fe) {
				err = Errorf(EINVALID, "%s", strings.Join(fe.Problems, "; "))
			}
			return s.renderInventory(b, w, r, sess, "", s.report(w, r, err))
		}
		s.o.Log.Info("discovery subnet set from the UI", "cidr", cidr, "enabled", enabled, "by", sess.User)
		verb := "disabled"
		if enabled {
			verb = "enabled: nothing is swept until you scan or its interval passes"
		}
		http.Redirect(w, r, "/inventory?msg="+url.QueryEscape(cidr+" "+verb), http.StatusSeeOther)
		return nil
	})
	s.handle("POST", "/inventory/scan", RoleTechnician, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		plan, err := b.ScanNow(strings.TrimSpace(r.PostForm.Get("cidr")))
		if err != nil {
			return s.renderInventory(b, w, r, sess, "", s.report(w, r, err))
		}
		s.o.Log.Info("discovery scan asked from the UI", "plan", plan, "by", sess.User)
		http.Redirect(w, r, "/inventory?msg="+url.QueryEscape("Scan queued. "+plan), http.StatusSeeOther)
		return nil
	})
	s.handle("GET", "/inventory/{key}", RoleViewer, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		return s.renderInventoryDevice(b, w, r, sess, r.URL.Query().Get("msg"), "")
	})
	s.handle("POST", "/inventory/{key}/decide", RoleTechnician, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		key := r.PathValue("key")
		f := DecisionForm{Class: r.PostForm.Get("class"), Name: strings.TrimSpace(r.PostForm.Get("name")), Ignored: r.PostForm.Get("ignored") == "on",
			Labels: map[string]string{}}
		for i, line := range strings.Split(r.PostForm.Get("labels"), "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			if !ok || strings.TrimSpace(k) == "" {
				return s.renderInventoryDevice(b, w, r, sess, "", s.report(w, r, Errorf(EINVALID, "labels, line %d: %q is not key=value", i+1, line)))
			}
			f.Labels[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
		if err := b.Decide(key, f, sess.User); err != nil {
			return s.renderInventoryDevice(b, w, r, sess, "", s.report(w, r, err))
		}
		http.Redirect(w, r, "/inventory/"+url.PathEscape(key)+"?msg=saved", http.StatusSeeOther)
		return nil
	})
	s.handle("POST", "/inventory/{key}/template", RoleAdmin, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		tv, err := b.ApplyTemplate(r.Context(), r.PathValue("key"), sess.User)
		if err != nil {
			return s.renderInventoryDevice(b, w, r, sess, "", s.report(w, r, err))
		}
		n := 0
		for _, c := range tv.Checks {
			if c.Added {
				n++
			}
		}
		s.o.Log.Info("check template applied from the UI", "device", tv.Device, "checks", n, "by", sess.User)
		return s.renderInventoryDeviceWith(b, w, r, sess, fmt.Sprintf("%d check(s) turned on for %s", n, tv.Device), "", &tv)
	})
	s.handle("POST", "/inventory/{key}/merge", RoleTechnician, func(w http.ResponseWriter, r *http.Request, sess *Session) error {
		key, drop := r.PathValue("key"), r.PostForm.Get("drop")
		if drop == "" {
			return s.renderInventoryDevice(b, w, r, sess, "", s.report(w, r, Errorf(EINVALID, "choose the record to merge into this one")))
		}
		if err := b.Merge(key, drop, sess.User); err != nil {
			return s.renderInventoryDevice(b, w, r, sess, "", s.report(w, r, err))
		}
		http.Redirect(w, r, "/inventory/"+url.PathEscape(key)+"?msg="+url.QueryEscape("merged "+drop), http.StatusSeeOther)
		return nil
	})
}

func (s *Server) renderInventory(b InventoryBackend, w http.ResponseWriter, r *http.Request, sess *Session, msg, errMsg string) error {
	devs, err := b.InventoryDevices()
	if err != nil {
		return err
	}
	v := InventoryPageView{Q: r.URL.Query().Get("q"), Subnets: b.DiscoverySubnets(), Msg: msg, Err: errMsg, CSRF: sess.CSRF,
		CanAct: sess.Role.AtLeast(RoleTechnician), CanConfigure: sess.Role.AtLeast(RoleAdmin)}
	q := strings.ToLower(strings.TrimSpace(v.Q))
	for _, d := range devs {
		if q != "" && !strings.Contains(strings.ToLower(strings.Join([]string{d.Name, d.IP, d.MAC, d.Vendor, d.Class, d.SNMPDescr, strings.Join(d.Labels, " ")}, " ")), q) {
			v.Hidden++
			continue
		}
		if d.Gone {
			v.Gone++
		} else {
			v.Present++
		}
		v.Devices = append(v.Devices, d)
	}
	return s.render(w, r, sess, "Inventory", inventoryView(v))
}

func (s *Server) renderInventoryDevice(b InventoryBackend, w http.ResponseWriter, r *http.Request, sess *Session, msg, errMsg string) error {
	return s.renderInventoryDeviceWith(b, w, r, sess, msg, errMsg, nil)
}

// renderInventoryDeviceWith shows a device's page; applied is the
// template just applied (nil: the planned one).
func (s *Server) renderInventoryDeviceWith(b InventoryBackend, w http.ResponseWriter, r *http.Request, sess *Session, msg, errMsg string, applied *TemplateView) error {
	d, err := b.InventoryDevice(r.PathValue("key"))
	if err != nil {
		return err
	}
	v := InventoryDevicePageView{D: d, Classes: b.DeviceClasses(), Msg: msg, Err: errMsg, CSRF: sess.CSRF, CanAct: sess.Role.AtLeast(RoleTechnician),
		CanConfigure: sess.Role.AtLeast(RoleAdmin)}
	if applied != nil {
		v.Template = *applied
	} else if v.Template, err = b.Template(d.Key); err != nil {
		return err
	}
	if v.CanAct {
		all, err := b.InventoryDevices()
		if err != nil {
			return err
		}
		for _, o := range all {
			if o.Key != d.Key {
				v.Others = append(v.Others, o)
			}
		}
		sort.Slice(v.Others, func(i, j int) bool { return v.Others[i].Name < v.Others[j].Name })
	}
	return s.render(w, r, sess, "Inventory: "+d.Name, inventoryDeviceView(v))
}
