//go:build ignore

// gen_oui writes oui.txt.gz, the IEEE MA-L registry the binary carries,
// from Debian's ieee-data (go generate; needs /usr/share/ieee-data).
package main

import (
	"compress/gzip"
	"encoding/csv"
	"fmt"
	"log"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	dir := "/usr/share/ieee-data"
	f, err := os.Open(dir + "/oui.csv")
	if err != nil {
		log.Fatal(err)
	}
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		log.Fatal(err)
	}
	date := "unknown"
	if b, err := os.ReadFile(dir + "/.lastupdate"); err == nil {
		if sec, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
			date = time.Unix(sec, 0).UTC().Format("2006-01-02")
		}
	}
	var lines []string
	for _, r := range recs {
		if len(r) >= 3 && r[0] == "MA-L" && len(r[1]) == 6 {
			lines = append(lines, strings.ToUpper(r[1])+"\t"+strings.Join(strings.Fields(r[2]), " "))
		}
	}
	sort.Strings(lines)
	out, err := os.Create("oui.txt.gz")
	if err != nil {
		log.Fatal(err)
	}
	zw, _ := gzip.NewWriterLevel(out, gzip.BestCompression)
	fmt.Fprintf(zw, "# IEEE MA-L registry from Debian ieee-data, %s, %d entries\n", date, len(lines))
	for _, l := range lines {
		fmt.Fprintln(zw, l)
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := out.Close(); err != nil {
		log.Fatal(err)
	}
}
