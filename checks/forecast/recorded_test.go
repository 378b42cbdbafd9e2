package forecast

import (
	"bufio"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// recorded reads one integer value from an snmpsim recording
// (OID|TYPE|VALUE lines).
func recorded(t *testing.T, file, oid string) float64 {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), "|", 3)
		if len(parts) == 3 && parts[0] == oid {
			v, err := strconv.ParseFloat(parts[2], 64)
			if err != nil {
				t.Fatalf("%s %s: %v", file, oid, err)
			}
			return v
		}
	}
	t.Fatalf("%s has no %s", file, oid)
	return 0
}

// TestRecordedSeries forecasts series that end at values real devices
// reported (their SNMP recordings), with a generated history before
// them whose answer is known: a Linux server's root file system (HOST-
// RESOURCES hrStorageUsed / hrStorageSize) filling 0.5 % a day with a
// daily cycle and noise, and a printer's black toner (Printer-MIB level /
// max capacity) falling 2.5 % a day since its cartridge was replaced.
func TestRecordedSeries(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	rec := filepath.Join("..", "snmp", "testdata", "snmprec", "linux_full_walk.snmprec")
	// hrStorage index 31 is "/" in this walk.
	size := recorded(t, rec, "1.3.6.1.2.1.25.2.3.1.5.31")
	used := recorded(t, rec, "1.3.6.1.2.1.25.2.3.1.6.31")
	root := 100 * used / size // 77.07 %
	bs := series(30, func(h float64) float64 {
		return root + 0.5*h/24 + 1.5*math.Sin(2*math.Pi*h/24) + rng.NormFloat64()*0.3
	})
	tr, err := Fit(bs, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "root fs slope %/day", tr.PerDay, 0.5, 0.05)
	near(t, "root fs level", tr.Level, root, 0.5)
	f := Predict(tr, Limits{Warning: pf(80), Critical: pf(90)})
	// From 77.07 % at 0.5 %/day, the daily peak 1.5 above the trend is
	// what crosses: 80 % in (80-1.5-77.07)/0.5 = 2.9 days, 90 % in 22.9.
	if f.Warning == nil || f.Critical == nil {
		t.Fatalf("root fs forecast %+v", f)
	}
	nearDays(t, "root fs warning in", f.Warning.In, (80-1.5-root)/0.5, 0.5)
	nearDays(t, "root fs critical in", f.Critical.In, (90-1.5-root)/0.5, 0.5)

	hp := filepath.Join("..", "..", "..", "shared", "snmprec", "printer_hp_m452nw.snmprec")
	if _, err := os.Stat(hp); err != nil {
		t.Logf("the GPL HP printer recording is not in the repository and %s is absent: the toner part is skipped", hp)
		return
	}
	black := 100 * recorded(t, hp, "1.3.6.1.2.1.43.11.1.1.9.1.1") / recorded(t, hp, "1.3.6.1.2.1.43.11.1.1.8.1.1") // 54 %
	resetAt := -(100 - black) / 2.5 * 24                                                                           // replaced when it was at 100 %
	bs = series(40, func(h float64) float64 {
		if h < resetAt {
			return 4 + 1.2*(resetAt-h)/24 // the old cartridge, nearly empty
		}
		return math.Round(100 - 2.5*(h-resetAt)/24) // levels are whole percent
	})
	tr, err = Fit(bs, Options{Now: now, Below: true})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Reset.IsZero() || math.Abs(tr.Reset.Sub(now.Add(hours(resetAt))).Hours()) > 24 {
		t.Errorf("toner reset at %s, want about %s", tr.Reset, now.Add(hours(resetAt)))
	}
	near(t, "toner slope %/day", tr.PerDay, -2.5, 0.1)
	f = Predict(tr, Limits{Warning: pf(10), Critical: pf(2), Below: true})
	if f.Warning == nil || f.Critical == nil {
		t.Fatalf("toner forecast %+v", f)
	}
	// 54 % → 10 % at 2.5 %/day: 17.6 days; → 2 %: 20.8 days.
	nearDays(t, "toner warning in", f.Warning.In, (black-10)/2.5, 1)
	nearDays(t, "toner critical in", f.Critical.In, (black-2)/2.5, 1)
}

func hours(h float64) time.Duration { return time.Duration(h * float64(time.Hour)) }
