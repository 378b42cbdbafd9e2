package discovery

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/csv"
	"io"
	"os"
	"strings"
	"sync"
)

//go:generate go run gen_oui.go

// ouiEmbedded is the whole IEEE MA-L registry (about 32,500 prefixes,
// 320 KB compressed) as Debian's ieee-data had it when gen_oui.go ran; its
// first line says the date. A box with a newer /usr/share/ieee-data reads
// that instead.
//
//go:embed oui.txt.gz
var ouiEmbedded []byte

// SystemOUIFile is where Debian's ieee-data keeps the registry.
const SystemOUIFile = "/usr/share/ieee-data/oui.csv"

// OUI maps the first three bytes of a MAC address to the organisation the
// IEEE registered them to.
type OUI struct {
	// Source says where the table came from and its date.
	Source string
	m      map[string]string
}

// Vendor returns the organisation of mac ("aa:bb:cc:dd:ee:ff"), or "".
// Locally administered addresses (random MACs of phones) have none.
func (o *OUI) Vendor(mac string) string {
	if o == nil {
		return ""
	}
	h := strings.ToUpper(strings.NewReplacer(":", "", "-", "", ".", "").Replace(mac))
	if len(h) < 6 {
		return ""
	}
	return o.m[h[:6]]
}

var (
	defaultOUI     *OUI
	defaultOUIOnce sync.Once
)

// DefaultOUI is the system's registry when present, else the embedded
// one; it is read once.
func DefaultOUI() *OUI {
	defaultOUIOnce.Do(func() {
		if f, err := os.Open(SystemOUIFile); err == nil {
			defer f.Close()
			if o, err := ReadOUICSV(f); err == nil && len(o.m) > 1000 {
				o.Source = SystemOUIFile
				defaultOUI = o
				return
			}
		}
		defaultOUI = EmbeddedOUI()
	})
	return defaultOUI
}

// EmbeddedOUI is the registry compiled into the binary.
func EmbeddedOUI() *OUI {
	o := &OUI{m: make(map[string]string, 33000), Source: "embedded"}
	zr, err := gzip.NewReader(bytes.NewReader(ouiEmbedded))
	if err != nil {
		return o
	}
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			o.Source = "embedded (" + rest + ")"
			continue
		}
		if k, v, ok := strings.Cut(line, "\t"); ok {
			o.m[k] = v
		}
	}
	return o
}

// ReadOUICSV reads the IEEE's oui.csv (Registry,Assignment,Organization
// Name,Organization Address).
func ReadOUICSV(r io.Reader) (*OUI, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	o := &OUI{m: map[string]string{}}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return o, nil
		}
		if err != nil {
			return nil, err
		}
		if len(rec) >= 3 && rec[0] == "MA-L" && len(rec[1]) == 6 {
			o.m[strings.ToUpper(rec[1])] = strings.Join(strings.Fields(rec[2]), " ")
		}
	}
}
